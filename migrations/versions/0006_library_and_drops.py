"""Files added to other albums by reference, and file drops that hold no album key.

A file's id becomes unique within its album rather than across albums (a reference keeps the id its
blobs are bound to); ``blob_refs`` counts the file rows that share one file's blobs; files say where
their blobs are (``blob_album``), whether they count against storage (``charged``) and whether their
key is sealed to the album's drop key (``drop``). Albums get a drop key pair per key epoch, and links
a sealed drop public key. Existing rows: every file is its own, counted, and sealed under AK.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.String(22)

# SQLite keeps the old UNIQUE (id) unnamed; batch mode names reflected unnamed constraints by this
# convention, so that it can be dropped (Alembic, "Dropping Unnamed or Named Foreign Key Constraints").
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_on_id(bind: sa.Connection) -> tuple[bool, str | None]:
    """Whether UNIQUE (files.id) exists, and its name: files_id_key on PostgreSQL, none on SQLite
    (an unnamed table constraint), whether 0001 or create_all made it."""
    for constraint in sa.inspect(bind).get_unique_constraints("files"):
        if constraint["column_names"] == ["id"]:
            return True, constraint["name"]
    return False, None


def _present(bind: sa.Connection) -> tuple[set[str], set[str]]:
    """The names of the files table's indexes and unique constraints, so that a database whose
    create_all already made some of this revision's (adopted at 0002 by migrate.py) is completed
    rather than refused."""
    inspector = sa.inspect(bind)
    indexes = {str(index["name"]) for index in inspector.get_indexes("files")}
    uniques = {str(unique["name"]) for unique in inspector.get_unique_constraints("files")}
    return indexes, uniques


def upgrade() -> None:
    bind = op.get_bind()
    new_columns: tuple[sa.Column[object], ...] = (
        sa.Column("blob_album", ID, nullable=True),
        sa.Column("charged", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("drop", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    has_unique_id, unique_name = _unique_on_id(bind)
    indexes, uniques = _present(bind)
    if bind.dialect.name == "sqlite":
        # files is referenced by no foreign key, so moving and copying it cascades nothing (migrations/env.py).
        with op.batch_alter_table("files", recreate="always", naming_convention=SQLITE_NAMES) as batch:
            if has_unique_id:
                batch.drop_constraint(unique_name or "uq_files_id", type_="unique")
            for column in new_columns:
                batch.add_column(column)
            if "ix_files_id" not in indexes:
                batch.create_index("ix_files_id", ["id"])
            if "uq_files_album_file" not in uniques:
                batch.create_unique_constraint("uq_files_album_file", ["album_id", "id"])
    else:
        if has_unique_id and unique_name is not None:
            op.drop_constraint(unique_name, "files", type_="unique")
        for column in new_columns:
            op.add_column("files", column)
        if "ix_files_id" not in indexes:
            op.create_index("ix_files_id", "files", ["id"])
        if "uq_files_album_file" not in uniques:
            op.create_unique_constraint("uq_files_album_file", "files", ["album_id", "id"])
    op.create_table(
        "blob_refs",
        sa.Column("album_id", ID, primary_key=True),
        sa.Column("file_id", ID, primary_key=True),
        sa.Column("refs", sa.Integer(), nullable=False),
    )
    op.create_table(
        "album_drop_keys",
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("epoch", sa.Integer(), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
    )
    op.add_column("links", sa.Column("wrapped_drop_key", sa.LargeBinary(), nullable=True))
    op.add_column("links", sa.Column("drop_epoch", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Only while no file is in two albums: the old UNIQUE (id) cannot hold otherwise.
    op.drop_column("links", "drop_epoch")
    op.drop_column("links", "wrapped_drop_key")
    op.drop_table("album_drop_keys")
    op.drop_table("blob_refs")
    with op.batch_alter_table("files") as batch:
        batch.drop_constraint("uq_files_album_file", type_="unique")
        batch.drop_index("ix_files_id")
        batch.drop_column("drop")
        batch.drop_column("charged")
        batch.drop_column("blob_album")
        batch.create_unique_constraint("files_id_key", ["id"])
