"""The notifier database: sends waiting for their window, the send ledger, calendars,
suppressions, plus the outbox and inbox."""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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

# One row per (notification, channel) cases asked for: it waits here for its send window and
# the governor, and says what became of it (and why) for the owner's outbox page.
WAITING = ("pending", "deferred")
pending_sends = Table(
    "pending_sends",
    metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("channel", String(8), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("owner_id", String(36), nullable=False),
    Column("community", String(64)),
    Column("slot", Integer, nullable=False),
    Column("template", String(32), nullable=False),
    Column("address", String(320)),  # the phone or email, to honour opt-outs
    Column("payload", Text, nullable=False),  # the request as cases sent it (JSON)
    Column("correlation_id", String(128), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),  # when cases asked (the event's time)
    Column("due_at", UtcDateTime(), nullable=False),  # not before; moved on by a deferral
    Column("expires_at", UtcDateTime(), nullable=False),
    # pending | deferred -> sending -> sent | failed | unknown; or skipped | cancelled
    Column("status", String(16), nullable=False),
    Column("reason", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", UtcDateTime()),  # when the provider call was claimed
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_pending_sends_owner", "owner_id", "sent_at"),
    Index("ix_pending_sends_community", "community", "sent_at"),
    Index("ix_pending_sends_case", "case_id"),
    Index("ix_pending_sends_address", "channel", "address"),
)
Index(
    "ix_pending_sends_due",
    pending_sends.c.due_at,
    postgresql_where=pending_sends.c.status.in_(WAITING),
    sqlite_where=pending_sends.c.status.in_(WAITING),
)

# Each community's calendar, as cases last configured it (community.configured).
community_calendars = Table(
    "community_calendars",
    metadata,
    Column("community", String(64), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("send_windows", JSON, nullable=False),  # ["09:30", "14:00", "19:30"]
    Column("quiet_start", String(5), nullable=False),
    Column("quiet_end", String(5), nullable=False),
    Column("holiday_calendar", String(8)),  # ISO country code; None: no holidays skipped
    Column("skip_weekends", Boolean, nullable=False),
    Column("configured_at", UtcDateTime(), nullable=False),  # the event's time: older ones lose
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Opt-outs per address and channel (gateway replies, Twilio 21610); opting in again keeps the row.
suppressions = Table(
    "suppressions",
    metadata,
    Column("channel", String(8), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("suppressed", Boolean, nullable=False),
    Column("source", String(32), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# "Nothing asked for up to `through` may go out" per owner or case (a payment, a promise, a
# closed case). Kept so a request that arrives after its cancellation is cancelled on arrival.
send_stops = Table(
    "send_stops",
    metadata,
    Column("scope", String(8), primary_key=True),  # owner | case
    Column("subject_id", String(36), primary_key=True),
    Column("through", UtcDateTime(), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Letters (PDF) waiting to be printed and posted by staff: one per notification. A letter is not
# governed by the SMS/email caps, but a payment, a promise or a closed case cancels it before it
# is printed. waiting -> printed -> posted; waiting -> cancelled.
print_queue = Table(
    "print_queue",
    metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("community", String(64)),
    Column("case_id", String(36), nullable=False),
    Column("owner_id", String(36), nullable=False),
    Column("template", String(32), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("file_name", String(64), nullable=False),  # what the owner's copy is called
    Column("status", String(16), nullable=False),
    Column("reason", String(200)),
    Column("correlation_id", String(128), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("printed_at", UtcDateTime()),
    Column("printed_by", String(64)),
    Column("posted_at", UtcDateTime()),  # when staff said so
    Column("posted_on", Date()),  # the day it went to the post office
    Column("tracking_number", String(64)),  # 挂号信 receipt / tracking number: the evidence
    Column("posted_by", String(64)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_print_queue_community", "community", "status"),
    Index("ix_print_queue_owner", "owner_id"),
    Index("ix_print_queue_case", "case_id"),
)

# Answers to what an owner sent us (autoreply.requested): one per (reply, kind), ever. Sent
# promptly, never in quiet hours, within the governor's caps; a sent one is also written to
# pending_sends so reminders count it. queued | deferred -> sending -> sent | failed | unknown;
# or skipped | expired.
auto_replies = Table(
    "auto_replies",
    metadata,
    Column("notification_id", String(36), primary_key=True),  # uuid5 of (reply_id, kind)
    Column("reply_id", String(36), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("address", String(320), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("owner_id", String(36)),
    Column("case_id", String(36)),
    Column("community", String(64)),
    Column("governed_as", String(36), nullable=False),  # the owner, or a key of the address when unknown
    Column("payload", Text, nullable=False),  # the request as it came (JSON)
    Column("correlation_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("reply_id", "kind", name="uq_auto_replies_reply_kind"),
    Index("ix_auto_replies_due", "status", "due_at"),
    Index("ix_auto_replies_owner", "owner_id"),
)

# The one opt-out confirmation an opted-out address gets, until it opts in again.
opt_out_confirmations = Table(
    "opt_out_confirmations",
    metadata,
    Column("channel", String(8), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("reply_id", String(36), nullable=False),
    Column("confirmed_at", UtcDateTime(), nullable=False),
)

# Reports emailed to managers (staff_report.requested): governor-free, never suppressed, one
# send per (report, recipient). queued -> sending -> sent | failed | unknown.
staff_reports = Table(
    "staff_reports",
    metadata,
    Column("report_id", String(36), primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("community", String(64)),
    Column("subject", String(200), nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
)
staff_mail = Table(
    "staff_mail",
    metadata,
    Column("notification_id", String(36), primary_key=True),  # uuid5 of (report_id, recipient)
    Column("report_id", String(36), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("report_id", "recipient", name="uq_staff_mail_report_recipient"),
    Index("ix_staff_mail_due", "status", "due_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
