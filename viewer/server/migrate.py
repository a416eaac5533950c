"""The schema comes from Alembic migrations (migrations/ at the repository root), run under a lock.

``upgrade`` brings any database to the newest revision: an empty one, one made by an older
version of this code through migrations, and one made before migrations (by ``create_all`` and
the ad hoc ALTERs that went with it; see ``_adopt``). Several servers may run it at once: a lock
(``_locked``) lets one migrate while the others wait, then find nothing left to do. ``check``
says whether the schema is the one this code needs. At start the app does one or the other, as
the MIGRATE setting says (``at_start``), and refuses to start on a schema it cannot use.
"""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from sqlalchemy import Connection, Engine, inspect, text

from . import ROOT, db

MIGRATIONS = ROOT / "migrations"
BASELINE = "0001"  # the seven tables as create_all made them before migrations (commit 84a31f8)
ACCOUNTS = "0002"  # the account tables and columns (commit e67cfde)
ACCOUNT_TABLES = ("accounts", "account_sessions", "invitations")
#: Indexes of the account columns: the ad hoc upgrade of before migrations never made them.
ACCOUNT_INDEXES = (("ix_albums_account_id", "albums"), ("ix_owner_tokens_account_id", "owner_tokens"))
#: pg_advisory_lock's key: any fixed 64-bit number that nothing else on the server uses
#: (here the first 8 bytes of SHA-256("fragment migrate"), as a signed bigint).
PG_LOCK_KEY = 729262866627188901
UPGRADE_COMMAND = "flask --app app db upgrade"


class SchemaError(RuntimeError):
    """The database's schema is not one this code can use; the message is one sentence for the operator.

    A RuntimeError so that gunicorn, which loads the app before forking (--preload), prints
    "Error: <message>" and exits 1 (gunicorn/app/base.py, BaseApplication.run).
    """


class SchemaBehind(SchemaError):
    """The database is at an older revision (or has no schema yet): ``upgrade`` brings it forward."""


class SchemaAhead(SchemaError):
    """The database is at a revision this code does not know: a newer version of Fragment migrated it."""


def _config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here: no alembic.ini is read."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this code knows."""
    found = _script().get_current_head()
    assert found is not None, f"no revisions in {MIGRATIONS}"
    return found


def _revision(connection: Connection) -> str | None:
    """The revision in alembic_version, or None when the database has none (empty, or made before migrations)."""
    revision = MigrationContext.configure(connection).get_current_revision()
    connection.commit()  # end the read's transaction: Alembic then runs its own
    return revision


def _known(revision: str) -> bool:
    return revision in {script.revision for script in _script().walk_revisions()}


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def current(engine: Engine) -> str | None:
    """The database's revision; None when it has none yet."""
    with engine.connect() as connection:
        return _revision(connection)


def check(engine: Engine) -> None:
    """Raise SchemaBehind or SchemaAhead unless the database is at the head revision."""
    with engine.connect() as connection:
        revision = _revision(connection)
        made_before = revision is None and "albums" in _tables(connection)
    want = head()
    if revision == want:
        return
    if revision is not None and not _known(revision):
        raise _ahead(revision)
    if revision is None:
        what = "was made before migrations" if made_before else "has no tables yet"
        raise SchemaBehind(f"The database {what} (this code needs revision {want}): run `{UPGRADE_COMMAND}`.")
    raise SchemaBehind(f"The database schema is at revision {revision}, this code needs {want}: run `{UPGRADE_COMMAND}`.")


def _ahead(revision: str) -> SchemaAhead:
    return SchemaAhead(
        f"The database schema is at revision {revision}, which this code does not know (its newest is {head()}): "
        "a newer version of Fragment migrated it; run that version."
    )


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to the head revision, under the lock; return the revisions before and after."""
    with _locked(engine) as connection:
        before = _revision(connection)
        if before is not None and not _known(before):
            raise _ahead(before)
        if before is None and _tables(connection) & {"albums", "links", "files"}:
            _adopt(connection)
        command.upgrade(_config(connection), "head")
        connection.commit()
    return before, head()


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection that holds the migration lock: one process migrates, the others wait for it."""
    if engine.dialect.name == "postgresql":
        # A session-level advisory lock on the migrating connection: it outlives the migration's
        # transactions, and PostgreSQL frees it if the process dies (PostgreSQL docs, "Advisory Locks").
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        with engine.connect() as connection:  # nothing else can open this database
            yield connection
        return
    # SQLite: an exclusive flock(2) on a file beside the database, held for the whole migration.
    # Not BEGIN IMMEDIATE: pysqlite runs DDL outside the transactions it opens (and Alembic's SQLite
    # DDL is not transactional), so the database lock would not cover the check and every step;
    # and a second process would give up after busy_timeout (10 s) instead of waiting. The lock
    # file is beside the database, not in DATA_DIR, so that servers given different data folders
    # but one database still share it. SQLite is local-disk only, where flock holds across processes.
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with engine.connect() as connection:
            yield connection
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _adopt(connection: Connection) -> None:
    """Stamp a database made before migrations with the revision its tables match, first completing them.

    Such a database has the baseline's tables, maybe without the columns that later code added
    with ALTERs at start (files.state, links.link_verifier), and maybe without a table that
    create_all would have added. The account work came with its own ad hoc ALTERs: if the three
    account tables exist, that code ran, so the database is completed to revision 0002 and stamped
    0002; if none of the account tables or columns exist, it is stamped 0001 and 0002 runs as a
    migration. Anything in between (account columns but no account tables) is not a state any
    version made, and is refused rather than guessed at.
    """
    tables = _tables(connection)
    missing = [name for name in _baseline_tables() if name not in tables]
    if missing:
        with Operations.context(MigrationContext.configure(connection)):
            for name in missing:
                _baseline_tables()[name]()
        connection.commit()
    _add_file_state(connection)
    _add_link_verifier(connection)
    account_tables = tables & set(ACCOUNT_TABLES)
    account_columns = {(table, column) for table, column, _kind in db.ACCOUNT_COLUMNS if column in _columns(connection, table)}
    if account_tables == set(ACCOUNT_TABLES):
        _add_account_columns(connection)
        stamp = ACCOUNTS
    elif not account_tables and not account_columns:
        stamp = BASELINE
    else:
        raise SchemaError(
            f"The database was made before migrations and has only part of the account tables "
            f"({', '.join(sorted(account_tables)) or 'none'}) and columns: it cannot be upgraded safely; restore a backup."
        )
    command.stamp(_config(connection), stamp)
    connection.commit()


def _baseline_tables() -> dict[str, Callable[[], None]]:
    """Revision 0001's table builders (migrations/versions/0001_baseline.py, TABLES), by name."""
    module: Any = _script().get_revision(BASELINE).module
    return module.TABLES


def _columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


def _add_file_state(connection: Connection) -> None:
    """Give a database made before files had a ``state`` that column (create_all adds no columns)."""
    if "state" in _columns(connection, "files"):
        return
    connection.execute(text("ALTER TABLE files ADD COLUMN state VARCHAR(10) NOT NULL DEFAULT 'pending'"))
    connection.execute(text("UPDATE files SET state = 'complete' WHERE complete"))
    connection.commit()


def _add_link_verifier(connection: Connection) -> None:
    """Give a database made before the link proof a nullable ``links.link_verifier`` (its links stay legacy)."""
    if "unlock_failures" in _tables(connection):  # replaced by unlock_counters
        connection.execute(text("DROP TABLE IF EXISTS unlock_failures"))
        connection.commit()
    if "link_verifier" in _columns(connection, "links"):
        return
    blob = "BYTEA" if connection.dialect.name == "postgresql" else "BLOB"
    connection.execute(text(f"ALTER TABLE links ADD COLUMN link_verifier {blob}"))
    connection.commit()


def _add_account_columns(connection: Connection) -> None:
    """Give a database made before accounts their nullable columns and indexes (its albums and tokens belong to no account)."""
    for table, column, kind in db.ACCOUNT_COLUMNS:
        if column in _columns(connection, table):
            continue
        if connection.dialect.name == "postgresql":
            kind = kind.replace("BLOB", "BYTEA")
        connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
    for index, table in ACCOUNT_INDEXES:
        connection.execute(text(f"CREATE INDEX IF NOT EXISTS {index} ON {table} (account_id)"))
    connection.commit()


def at_start(engine: Engine, mode: str) -> None:
    """What the app does with the schema when it starts: upgrade it (MIGRATE=auto) or only check it (check)."""
    if mode == "auto":
        upgrade(engine)
    else:
        check(engine)


#: Commands that run whatever state the schema is in: ``db`` deals with it, ``settings-doc`` needs no database.
SCHEMA_COMMANDS = {"db", "settings-doc"}


def defer_to_commands(app: Flask) -> None:
    """Under ``flask``, do the start-up step when a command runs, and not for those of SCHEMA_COMMANDS.

    The command line creates the app to find its commands, before it knows which one runs: if the
    app refused to start on a schema that is behind (MIGRATE=check), ``flask db upgrade`` could
    never run, and ``flask db check`` must look without upgrading.
    """
    group = app.cli
    find = group.get_command

    def get_command(ctx: click.Context, name: str) -> click.Command | None:
        found = find(ctx, name)
        if found is not None and name not in SCHEMA_COMMANDS and not getattr(found, "_fragment_schema", False):
            found.callback = _started_first(found.callback)
            found._fragment_schema = True  # type: ignore[attr-defined]
        return found

    group.get_command = get_command  # type: ignore[method-assign,assignment]


def _started_first(callback: Callable[..., Any] | None) -> Callable[..., Any]:
    def started(*args: Any, **kwargs: Any) -> Any:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if not app.extensions.get("fragment.schema_ready"):
            try:
                at_start(app.extensions["fragment.engine"], app.config["MIGRATE"])
            except SchemaError as exc:
                raise click.ClickException(str(exc)) from None
            app.extensions["fragment.schema_ready"] = True
        return callback(*args, **kwargs) if callback is not None else None

    return functools.update_wrapper(started, callback) if callback is not None else started
