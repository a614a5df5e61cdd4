"""faq (placeholder reserved for: FAQ entries and auto-replies (gateway replies work); fill in upgrade/downgrade)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:15:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
