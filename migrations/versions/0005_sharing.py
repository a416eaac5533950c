"""Sharing with people: members and their roles, invitations by e-mail, album key epochs, sealed contacts and favorites.

Existing albums and files are at key epoch 0 (their one album key); nothing else changes for them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(22)


def upgrade() -> None:
    op.create_table(
        "album_members",
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_epoch", sa.Integer(), nullable=False),
        sa.Column("added_by", ID, nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "share_invitations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_epoch", sa.Integer(), nullable=False),
        sa.Column("claim_hash", sa.String(64), nullable=False),
        sa.Column("owner_secret", sa.LargeBinary(), nullable=False),
        sa.Column("invited_by", ID, nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "album_key_chain",
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("epoch", sa.Integer(), primary_key=True),
        sa.Column("sealed_prev", sa.LargeBinary(), nullable=False),
    )
    op.add_column("albums", sa.Column("key_epoch", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("albums", sa.Column("rekey_pending", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("files", sa.Column("key_epoch", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("files", sa.Column("added_by", ID, nullable=True))
    op.add_column("links", sa.Column("owner_wrap_key", sa.LargeBinary(), nullable=True))
    op.create_table(
        "sealed_values",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sealed_values")
    op.drop_column("links", "owner_wrap_key")
    op.drop_column("files", "added_by")
    op.drop_column("files", "key_epoch")
    op.drop_column("albums", "rekey_pending")
    op.drop_column("albums", "key_epoch")
    op.drop_table("album_key_chain")
    op.drop_table("share_invitations")
    op.drop_table("album_members")
