"""Baseline: the seven tables as create_all made them before migrations (commit 84a31f8).

Written by hand, not from the models, which keep changing in later revisions. Each table has its
own function so that viewer/server/migrate.py can also create one that a database made before
migrations lacks (create_all at every start used to add missing tables).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(22)


def owner_tokens() -> None:
    op.create_table(
        "owner_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def albums() -> None:
    op.create_table(
        "albums",
        sa.Column("id", ID, primary_key=True),
        sa.Column("meta", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def files() -> None:
    op.create_table(
        "files",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", ID, nullable=False, unique=True),
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("meta", sa.LargeBinary(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("via_link", ID, nullable=True),
        sa.Column("thumb_size", sa.BigInteger(), nullable=False),
        sa.Column("preview_size", sa.BigInteger(), nullable=False),
        sa.Column("original_size", sa.BigInteger(), nullable=False),
        sa.Column("thumb_received", sa.BigInteger(), nullable=False),
        sa.Column("preview_received", sa.BigInteger(), nullable=False),
        sa.Column("original_received", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_files_listing", "files", ["album_id", "complete", "seq"])
    op.create_index("ix_files_pending", "files", ["complete", "expires_at"])


def links() -> None:
    op.create_table(
        "links",
        sa.Column("id", ID, primary_key=True),
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), nullable=False),
        sa.Column("wrapped_album_key", sa.LargeBinary(), nullable=True),
        sa.Column("verifier", sa.LargeBinary(), nullable=False),
        sa.Column("link_verifier", sa.LargeBinary(), nullable=True),
        sa.Column("pw_salt", sa.LargeBinary(), nullable=True),
        sa.Column("pw_opslimit", sa.Integer(), nullable=True),
        sa.Column("pw_memlimit", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("device_limit", sa.Integer(), nullable=True),
        sa.Column("devices_used", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.Boolean(), nullable=False),
        sa.Column("uploads", sa.Boolean(), nullable=False),
        sa.Column("upload_only", sa.Boolean(), nullable=False),
        sa.Column("quota_files", sa.Integer(), nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=False),
        sa.Column("max_file_size", sa.BigInteger(), nullable=False),
        sa.Column("files_used", sa.Integer(), nullable=False),
        sa.Column("bytes_used", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_links_album_id", "links", ["album_id"])


def unlock_counters() -> None:
    op.create_table(
        "unlock_counters",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
    )


def spent_challenges() -> None:
    op.create_table(
        "spent_challenges",
        sa.Column("nonce", ID, primary_key=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_spent_challenges_at", "spent_challenges", ["at"])


def link_devices() -> None:
    op.create_table(
        "link_devices",
        sa.Column("link_id", ID, sa.ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


#: In an order that creates every referenced table first.
TABLES: dict[str, Callable[[], None]] = {
    "owner_tokens": owner_tokens,
    "albums": albums,
    "files": files,
    "links": links,
    "unlock_counters": unlock_counters,
    "spent_challenges": spent_challenges,
    "link_devices": link_devices,
}


def upgrade() -> None:
    for create in TABLES.values():
        create()


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
