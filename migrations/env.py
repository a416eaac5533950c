"""Alembic's environment for Fragment's schema (viewer/server/db.py's models).

The app runs these migrations itself: viewer/server/migrate.py builds the Alembic Config in code,
takes its lock and hands over its connection in ``config.attributes["connection"]`` (Alembic
cookbook, "Sharing a Connection across one or more programmatic migration commands").
Operators run ``flask --app app db upgrade``; nothing else is needed.

To add a migration (a change to the models in viewer/server/db.py):

1. Write the model change, then from the repository root, with a database at the current head
   (``FRAGMENT_DATABASE_URL``, or the SQLite database of ``FRAGMENT_DATA_DIR``, default ``data/``):
   ``.venv/bin/alembic revision --autogenerate --rev-id 0003 -m "what changes"``
   (alembic.ini names this folder; the next number in versions/ as the id).
2. Read and finish the generated file by hand: autogenerate misses renames and server defaults,
   and SQLite cannot ALTER constraints (add a foreign key column with ``inline_references=True``;
   never a batch "move and copy" of a table that others reference: with foreign keys on, dropping
   the old table would cascade).
3. tests/test_migrations.py checks that head matches the models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from viewer.server import config as settings
from viewer.server import db

target_metadata = db.Base.metadata


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("Error: Fragment's migrations run on a database connection, not as SQL scripts (--sql).")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    # The alembic command line (``alembic revision --autogenerate``): the database the app would use.
    engine = db.make_engine(settings.load()["DATABASE_URL"])
    try:
        with engine.connect() as own:
            run(own)
            own.commit()
    finally:
        engine.dispose()


main()
