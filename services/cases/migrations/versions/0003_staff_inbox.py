"""staff inbox of owners' questions no FAQ entry answered

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 21:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_inbox',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reply_id', sa.String(length=36), nullable=False),
    sa.Column('community', sa.String(length=64), nullable=True),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['owners.id'], ),
    sa.ForeignKeyConstraint(['reply_id'], ['owner_replies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reply_id')
    )
    with op.batch_alter_table('staff_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_staff_inbox_status', ['status', 'community', 'received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_inbox_status')
    op.drop_table('staff_inbox')
