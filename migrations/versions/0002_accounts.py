"""Accounts: the account, session and invitation tables, and the nullable account columns.

Exactly what commit e67cfde added to the models (viewer/server/db.py), written by hand. Albums,
links and tokens that exist stay, and belong to no account (NULL).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(22)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("pw_salt", sa.LargeBinary(), nullable=False),
        sa.Column("pw_opslimit", sa.Integer(), nullable=False),
        sa.Column("pw_memlimit", sa.BigInteger(), nullable=False),
        sa.Column("login_hash", sa.String(255), nullable=False),
        sa.Column("recovery_hash", sa.String(255), nullable=False),
        sa.Column("sealed_mk", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_mk_rk", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_rk", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_identity", sa.LargeBinary(), nullable=False),
        sa.Column("box_pk", sa.LargeBinary(), nullable=False),
        sa.Column("sign_pk", sa.LargeBinary(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("bytes_used", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "account_sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.String(80), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_account_sessions_account_id", "account_sessions", ["account_id"])
    op.create_index("ix_account_sessions_expires_at", "account_sessions", ["expires_at"])
    op.create_table(
        "invitations",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_by", ID, sa.ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
    )
    # inline_references: the foreign key goes in the ADD COLUMN itself, the one form SQLite
    # accepts (it has no ALTER TABLE ... ADD CONSTRAINT); PostgreSQL takes it as well.
    op.add_column(
        "owner_tokens",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
        inline_references=True,
    )
    op.add_column("owner_tokens", sa.Column("label", sa.String(80), nullable=True))
    op.create_index("ix_owner_tokens_account_id", "owner_tokens", ["account_id"])
    op.add_column(
        "albums",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
        inline_references=True,
    )
    op.add_column("albums", sa.Column("owner_key", sa.LargeBinary(), nullable=True))
    op.create_index("ix_albums_account_id", "albums", ["account_id"])
    op.add_column("links", sa.Column("owner_secret", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # PostgreSQL only: SQLite cannot drop a column that a foreign key or an index names.
    op.drop_column("links", "owner_secret")
    op.drop_index("ix_albums_account_id", "albums")
    op.drop_column("albums", "owner_key")
    op.drop_column("albums", "account_id")
    op.drop_index("ix_owner_tokens_account_id", "owner_tokens")
    op.drop_column("owner_tokens", "label")
    op.drop_column("owner_tokens", "account_id")
    op.drop_table("invitations")
    op.drop_table("account_sessions")
    op.drop_table("accounts")
