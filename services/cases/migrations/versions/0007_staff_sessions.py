"""staff sessions: revocable refresh tokens (stored as SHA-256 digests) behind short access tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 23:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('staff_id', sa.String(length=36), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    op.create_index('ix_staff_sessions_staff', 'staff_sessions', ['staff_id', 'revoked_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_staff_sessions_staff', table_name='staff_sessions')
    op.drop_table('staff_sessions')
