"""Link details for the owner's web app: a label sealed under the account's master key, and
when the link last opened the album.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The owner's name for the link ("Family", "Printer"), sealed like owner_secret: the server keeps ciphertext.
    op.add_column("links", sa.Column("owner_label", sa.LargeBinary(), nullable=True))
    # When an unlock through this link last succeeded (seconds since the epoch); NULL: never.
    op.add_column("links", sa.Column("last_opened_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("links", "last_opened_at")
    op.drop_column("links", "owner_label")
