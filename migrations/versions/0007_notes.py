"""Comments and reactions (issue 14): notes, sealed and signed by their authors, and each link's comment settings.

A note is ciphertext under a key derived from the album key, signed by its author (docs/format.md,
"Comments and reactions"): the server keeps it with its author (an account, or a link and the
guest's public key), its epoch and version, and whether the owner hid it or holds it for approval.
Links get ``comments`` ('off', 'on' or 'held') and ``notes_per_hour``; existing links have comments off.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.String(22)


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", ID, nullable=False),
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author_account", ID, nullable=True),
        sa.Column("author_link", ID, nullable=True),
        sa.Column("guest_pk", sa.LargeBinary(), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("album_id", "id", name="uq_notes_album_note"),
    )
    op.create_index("ix_notes_listing", "notes", ["album_id", "seq"])
    op.add_column("links", sa.Column("comments", sa.String(8), nullable=False, server_default="off"))
    op.add_column("links", sa.Column("notes_per_hour", sa.Integer(), nullable=False, server_default="30"))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a batch copy of links: link_devices
    # references it, and dropping the old table would cascade (migrations/env.py).
    op.drop_column("links", "notes_per_hour")
    op.drop_column("links", "comments")
    op.drop_index("ix_notes_listing", table_name="notes")
    op.drop_table("notes")
