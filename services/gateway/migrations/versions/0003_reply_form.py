"""reply form (placeholder reserved for: reply-form submissions (reply form work); fill in upgrade/downgrade)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 21:15:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
