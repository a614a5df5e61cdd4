"""outbox wakeups: on PostgreSQL, staging events notifies the relay (LISTEN outbox_staged)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 00:20:00
"""
from alembic import op

from shared.outbox_wakeups import CREATE_TRIGGER, DROP_TRIGGER

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in CREATE_TRIGGER:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_TRIGGER:
            op.execute(statement)
