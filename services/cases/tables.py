"""The cases database: owners, cases, the messages sent about them and owners' replies."""
from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.db import UtcDateTime
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = MetaData()

owners = Table(
    "owners",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("community", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("phone", String(20)),
    Column("email", String(320)),
    Column("locale", String(8), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_owners_phone", "phone"),
    Index("ix_owners_email", "email"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("owners.id"), nullable=False),
    Column("community", String(64), nullable=False),
    Column("amount_owed", Numeric(12, 2), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("opened_by", String(64), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime()),
    Index("ix_cases_owner", "owner_id"),
    Index("ix_cases_community_opened", "community", "opened_at"),
)

case_messages = Table(
    "case_messages",
    metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("channel", String(8), primary_key=True),
    # Known once message.sent arrives; a delivery report may come first.
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("provider", String(16)),
    Column("provider_message_id", String(64)),
    Column("status", String(16), nullable=False),
    Column("error_code", String(16)),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_case_messages_case", "case_id"),
    Index("ix_case_messages_provider_id", "provider_message_id"),
)

owner_replies = Table(
    "owner_replies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("provider_message_id", String(128), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("owner_id", String(36), ForeignKey("owners.id")),
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("body", Text, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider_message_id", name="uq_owner_replies_provider_message"),
    Index("ix_owner_replies_case", "case_id"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
