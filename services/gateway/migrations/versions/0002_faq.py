"""faq entries, address directory, community timezones, inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('faq_entries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('questions_zh', sa.JSON(), nullable=False),
    sa.Column('questions_en', sa.JSON(), nullable=False),
    sa.Column('answer_zh', sa.Text(), nullable=True),
    sa.Column('answer_en', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('address_directory',
    sa.Column('address_key', sa.String(length=64), nullable=False),
    sa.Column('community', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('address_key')
    )
    op.create_table('community_timezones',
    sa.Column('community', sa.String(length=64), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('community')
    )
    op.create_table('inbox',
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id')
    )


def downgrade() -> None:
    op.drop_table('inbox')
    op.drop_table('community_timezones')
    op.drop_table('address_directory')
    op.drop_table('faq_entries')
