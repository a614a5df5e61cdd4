"""The notifier database: the send ledger, plus its outbox and inbox."""
from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from shared.db import UtcDateTime
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = MetaData()

# One row per (notification, channel): the claim that makes a send happen at most once.
send_ledger = Table(
    "send_ledger",
    metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("channel", String(8), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("owner_id", String(36), nullable=False),
    # claimed -> sent | failed | unknown; `retry` after a transient error that sent nothing.
    Column("status", String(16), nullable=False),
    Column("provider", String(16)),
    Column("provider_message_id", String(64)),
    Column("delivery_status", String(16)),
    Column("error_code", String(16)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_send_ledger_provider_id", "provider_message_id"),
    Index("ix_send_ledger_owner", "owner_id"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
