"""reply form: submissions (one per link) and rate-limit counters

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
    op.create_table('reply_form_submissions',
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_digest'),
    sa.UniqueConstraint('submission_id')
    )
    op.create_table('reply_form_attempts',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_start')
    )
    with op.batch_alter_table('reply_form_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_reply_form_attempts_window', ['window_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reply_form_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_reply_form_attempts_window')
    op.drop_table('reply_form_attempts')
    op.drop_table('reply_form_submissions')
