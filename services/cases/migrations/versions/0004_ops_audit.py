"""ops audit: who listed, inspected, replayed or purged dead letters

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 21:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ops_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('affected', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_ops_audit_at', 'ops_audit', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ops_audit_at', table_name='ops_audit')
    op.drop_table('ops_audit')
