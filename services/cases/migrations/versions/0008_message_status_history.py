"""message status history: every status reported for a message, with when it happened

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 00:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_message_statuses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('notification_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.String(length=16), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_case_message_statuses_message', 'case_message_statuses', ['notification_id', 'channel'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_message_statuses_message', table_name='case_message_statuses')
    op.drop_table('case_message_statuses')
