"""print queue and auto replies: letters to print and post, auto-replies, staff mail

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 21:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('print_queue',
    sa.Column('notification_id', sa.String(length=36), nullable=False),
    sa.Column('community', sa.String(length=64), nullable=True),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('template', sa.String(length=32), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('file_name', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('printed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('printed_by', sa.String(length=64), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('posted_on', sa.Date(), nullable=True),
    sa.Column('tracking_number', sa.String(length=64), nullable=True),
    sa.Column('posted_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('notification_id')
    )
    with op.batch_alter_table('print_queue', schema=None) as batch_op:
        batch_op.create_index('ix_print_queue_case', ['case_id'], unique=False)
        batch_op.create_index('ix_print_queue_community', ['community', 'status'], unique=False)
        batch_op.create_index('ix_print_queue_owner', ['owner_id'], unique=False)

    op.create_table('auto_replies',
    sa.Column('notification_id', sa.String(length=36), nullable=False),
    sa.Column('reply_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('community', sa.String(length=64), nullable=True),
    sa.Column('governed_as', sa.String(length=36), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('notification_id'),
    sa.UniqueConstraint('reply_id', 'kind', name='uq_auto_replies_reply_kind')
    )
    with op.batch_alter_table('auto_replies', schema=None) as batch_op:
        batch_op.create_index('ix_auto_replies_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_auto_replies_owner', ['owner_id'], unique=False)

    op.create_table('opt_out_confirmations',
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('reply_id', sa.String(length=36), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'address')
    )
    op.create_table('staff_reports',
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('community', sa.String(length=64), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('report_id')
    )
    op.create_table('staff_mail',
    sa.Column('notification_id', sa.String(length=36), nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('notification_id'),
    sa.UniqueConstraint('report_id', 'recipient', name='uq_staff_mail_report_recipient')
    )
    with op.batch_alter_table('staff_mail', schema=None) as batch_op:
        batch_op.create_index('ix_staff_mail_due', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_mail', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_mail_due')
    op.drop_table('staff_mail')
    op.drop_table('staff_reports')
    op.drop_table('opt_out_confirmations')
    with op.batch_alter_table('auto_replies', schema=None) as batch_op:
        batch_op.drop_index('ix_auto_replies_owner')
        batch_op.drop_index('ix_auto_replies_due')
    op.drop_table('auto_replies')
    with op.batch_alter_table('print_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_print_queue_owner')
        batch_op.drop_index('ix_print_queue_community')
        batch_op.drop_index('ix_print_queue_case')
    op.drop_table('print_queue')
