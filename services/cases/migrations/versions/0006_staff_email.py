"""staff email: where a manager's emailed reports go (optional; stored lowercased)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 21:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff') as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))


def downgrade() -> None:
    # Not recreated: on SQLite (3.35+ drops a column in place) a copy-and-swap of `staff` would trip the
    # foreign keys that staff_communities, groups and assignments hold on it.
    with op.batch_alter_table('staff', recreate='never') as batch_op:
        batch_op.drop_column('email')
