"""The gateway database: what it has accepted (for deduplication) and its outbox."""
from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

from shared.db import UtcDateTime
from shared.outbox import outbox_table

metadata = MetaData()

# One row per provider delivery we accepted: a retried webhook finds its key here.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("message_id", String(64), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

outbox = outbox_table(metadata)
