"""Guest uploads held for the owner's approval: a link setting, and a file state recipients do not see.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing links and files: nothing held (server_default), as before this revision.
    op.add_column("links", sa.Column("hold_uploads", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("files", sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("files", "held")
    op.drop_column("links", "hold_uploads")
