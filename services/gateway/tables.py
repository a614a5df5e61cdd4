"""The gateway database: what it has accepted (for deduplication) and its outbox."""
from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text

from shared.db import UtcDateTime
from shared.inbox import inbox_table
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

# One row per reply-form link that was answered (the token's digest: the token itself stays out).
# Only ids: what the owner wrote travels in the form.submitted event, never stored here.
reply_form_submissions = Table(
    "reply_form_submissions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("submission_id", String(36), nullable=False, unique=True),
    Column("owner_id", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("submitted_at", UtcDateTime(), nullable=False),
)

# Reply-form posts per client IP and per link, counted in fixed windows here rather than in a
# worker's memory, so the limit holds across gunicorn workers.
reply_form_attempts = Table(
    "reply_form_attempts",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("window_start", UtcDateTime(), primary_key=True),
    Column("count", Integer, nullable=False),
    Index("ix_reply_form_attempts_window", "window_start"),
)

outbox = outbox_table(metadata)

# 收费答客问: staff's answers to the questions owners ask most (question variants per language).
faq_entries = Table(
    "faq_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("questions_zh", JSON, nullable=False),  # ["为什么要交物业费", ...]
    Column("questions_en", JSON, nullable=False),
    Column("answer_zh", Text),  # None: the English answer is sent instead (and the other way round)
    Column("answer_en", Text),
    Column("updated_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Which community an owner's phone or email belongs to, learnt from cases' and the notifier's
# events; the address is kept only as a keyed hash.
address_directory = Table(
    "address_directory",
    metadata,
    Column("address_key", String(64), primary_key=True),  # HMAC-SHA256(channel:address), hex
    Column("community", String(64), nullable=False),
    Column("locale", String(8)),
    Column("updated_at", UtcDateTime(), nullable=False),
)

community_timezones = Table(
    "community_timezones",
    metadata,
    Column("community", String(64), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

inbox = inbox_table(metadata)
