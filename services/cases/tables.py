"""The cases database: communities, owners, arrears, cases and everything that happens to them."""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
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
Money = Numeric(12, 2)

communities = Table(
    "communities", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("send_windows", JSON, nullable=False),  # ["09:30", "14:00", "19:30"]
    Column("quiet_start", String(5), nullable=False),
    Column("quiet_end", String(5), nullable=False),
    Column("holiday_calendar", String(8)),  # ISO country code, e.g. "CN"; None: no holidays
    Column("skip_weekends", Boolean, nullable=False),
    Column("ladder", JSON),  # per-stage overrides of the default ladder
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

owners = Table(
    "owners", metadata,
    Column("id", String(36), primary_key=True),
    Column("community", String(64), nullable=False),
    Column("external_ref", String(64)),  # the centre's own owner code, for idempotent imports
    Column("name", String(200), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("key_owner", Boolean, nullable=False, default=False),
    Column("contact_status", String(16), nullable=False, default="reachable"),
    Column("broken_promises", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("community", "external_ref", name="uq_owners_external_ref"),
)

# Every phone and email of an owner, and whether it still works.
owner_contacts = Table(
    "owner_contacts", metadata,
    Column("owner_id", String(36), ForeignKey("owners.id"), primary_key=True),
    Column("channel", String(8), primary_key=True),  # sms | email
    Column("address", String(320), primary_key=True),
    Column("status", String(16), nullable=False),  # ok | bad | opted_out
    Column("reason", String(64)),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_owner_contacts_address", "address"),
)

units = Table(
    "units", metadata,
    Column("id", String(36), primary_key=True),
    Column("community", String(64), nullable=False),
    Column("building", String(32), nullable=False),
    Column("number", String(32), nullable=False),
    Column("owner_id", String(36), ForeignKey("owners.id"), nullable=False),
    UniqueConstraint("community", "building", "number", name="uq_units_address"),
    Index("ix_units_owner", "owner_id"),
)

ledger_entries = Table(
    "ledger_entries", metadata,
    Column("id", String(36), primary_key=True),
    Column("unit_id", String(36), ForeignKey("units.id"), nullable=False),
    Column("fee_period", String(32), nullable=False),
    Column("amount_due", Money, nullable=False),
    Column("amount_paid", Money, nullable=False),
    Column("due_date", Date, nullable=False),
    UniqueConstraint("unit_id", "fee_period", name="uq_ledger_unit_period"),
)

cases = Table(
    "cases", metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("owners.id"), nullable=False),
    Column("community", String(64), nullable=False),
    Column("amount_owed", Money, nullable=False),
    Column("amount_recovered", Money, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # open | closed
    Column("stage", String(32), nullable=False),
    Column("stage_entered_on", Date, nullable=False),
    Column("due_date", Date, nullable=False),  # oldest unpaid due date: the ladder's anchor
    Column("paused_until", Date),  # grace after an owner issue is resolved
    Column("awaiting_approval", String(32)),  # the stage it is due for but may not enter yet
    Column("approved_stage", String(32)),
    Column("last_swept_on", Date),
    Column("assignee_id", String(36)),
    Column("group_id", String(36)),
    Column("opened_by", String(64), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime()),
    Column("closed_reason", String(16)),
    Index("ix_cases_owner", "owner_id"),
    Index("ix_cases_community_opened", "community", "opened_at"),
    Index("ix_cases_open_sweep", "status", "community"),
)

stage_moves = Table(
    "stage_moves", metadata,
    Column("case_id", String(36), ForeignKey("cases.id"), primary_key=True),
    Column("stage", String(32), primary_key=True),  # a case enters each stage at most once
    Column("entered_on", Date, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("paid_within_30_days", Boolean),
)

case_messages = Table(
    "case_messages", metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("channel", String(8), primary_key=True),
    # Known once message.sent arrives; a delivery report may come first.
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("provider", String(16)),
    Column("provider_message_id", String(64)),
    Column("address", String(320)),
    Column("status", String(16), nullable=False),
    Column("error_code", String(16)),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_case_messages_case", "case_id"),
    Index("ix_case_messages_provider_id", "provider_message_id"),
)

# Every status reported for a message, as it was reported: case_messages keeps only the furthest
# one, while a court (and the service centre) may ask when a letter or text was sent, delivered, read.
case_message_statuses = Table(
    "case_message_statuses", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", String(36), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(16)),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Index("ix_case_message_statuses_message", "notification_id", "channel"),
)

owner_replies = Table(
    "owner_replies", metadata,
    Column("id", String(36), primary_key=True),
    Column("provider_message_id", String(128), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("owner_id", String(36), ForeignKey("owners.id")),
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("body", Text, nullable=False),
    Column("intent", String(32)),
    Column("received_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider_message_id", name="uq_owner_replies_provider_message"),
    Index("ix_owner_replies_case", "case_id"),
)

promises = Table(
    "promises", metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("promised_date", Date, nullable=False),
    Column("amount", Money),  # None: the whole amount owed
    Column("source", String(16), nullable=False),  # sms | email | staff | form
    Column("status", String(16), nullable=False),  # open | kept | broken | replaced
    Column("owed_when_made", Money, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resolved_on", Date),
    Index("ix_promises_case_status", "case_id", "status"),
)

owner_issues = Table(
    "owner_issues", metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("owner_id", String(36), ForeignKey("owners.id"), nullable=False),
    Column("community", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("assignee_id", String(36)),
    Column("status", String(16), nullable=False),  # open | in_progress | resolved
    Column("deadline_at", UtcDateTime(), nullable=False),
    Column("breached_at", UtcDateTime()),
    Column("resolution", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    Index("ix_owner_issues_case_status", "case_id", "status"),
    Index("ix_owner_issues_community_status", "community", "status"),
)

issue_history = Table(
    "issue_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", String(36), ForeignKey("owner_issues.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text),
    Column("at", UtcDateTime(), nullable=False),
)

payments = Table(
    "payments", metadata,
    Column("id", String(36), primary_key=True),
    Column("community", String(64), nullable=False),
    Column("external_ref", String(64), nullable=False),  # receipt number: re-imports change nothing
    Column("unit_id", String(36), ForeignKey("units.id"), nullable=False),
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("amount", Money, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("community", "external_ref", name="uq_payments_receipt"),
    Index("ix_payments_case", "case_id"),
)

# Work for staff the system cannot do itself, e.g. re-verify an unreachable owner's contacts.
staff_tasks = Table(
    "staff_tasks", metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("community", String(64), nullable=False),
    Column("owner_id", String(36), ForeignKey("owners.id")),
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("status", String(16), nullable=False),  # open | done
    Column("created_at", UtcDateTime(), nullable=False),
    Column("done_at", UtcDateTime()),
    Index("ix_staff_tasks_owner_kind", "owner_id", "kind", "status"),
)

# Things people decided about a case (approvals, notes); the rest of its timeline is read from
# the tables that record each kind of event.
case_notes = Table(
    "case_notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_case_notes_case", "case_id", "id"),
)

staff = Table(
    "staff", metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # collector | supervisor | manager | admin
    Column("password_hash", String(256), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("email", String(320)),  # optional, lowercased; a manager's emailed reports go here
)

staff_communities = Table(
    "staff_communities", metadata,
    Column("staff_id", String(36), ForeignKey("staff.id"), primary_key=True),
    Column("community", String(64), primary_key=True),
)

# One row per sign-in: the refresh token (kept only as its SHA-256) that mints short access tokens
# until it expires or is revoked (sign-out, or a change to the account): services/cases/people/sessions.py.
staff_sessions = Table(
    "staff_sessions", metadata,
    Column("id", String(36), primary_key=True),
    Column("staff_id", String(36), ForeignKey("staff.id"), nullable=False),
    Column("token_digest", String(64), nullable=False, unique=True),  # hex SHA-256 of the refresh token
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Column("revoked_reason", String(32)),  # signed_out | signed_out_everywhere | deactivated | role_changed | ...
    Index("ix_staff_sessions_staff", "staff_id", "revoked_at"),
)

# Collection groups (supervisor-led, manager-led hard cases, prior-year arrears) per community.
collection_groups = Table(
    "collection_groups", metadata,
    Column("id", String(36), primary_key=True),
    Column("community", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(32), nullable=False),  # supervisor_led | manager_led | prior_year
    Column("leader_id", String(36), ForeignKey("staff.id")),
    UniqueConstraint("community", "name", name="uq_groups_name"),
)

group_members = Table(
    "group_members", metadata,
    Column("group_id", String(36), ForeignKey("collection_groups.id"), primary_key=True),
    Column("staff_id", String(36), ForeignKey("staff.id"), primary_key=True),
)

case_assignments = Table(
    "case_assignments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("staff_id", String(36), ForeignKey("staff.id")),
    Column("group_id", String(36), ForeignKey("collection_groups.id")),
    Column("amount_owed_at_assignment", Money, nullable=False),
    Column("assigned_by", String(64), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("assigned_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Index("ix_case_assignments_case", "case_id"),
    Index("ix_case_assignments_staff", "staff_id", "ended_at"),
)

campaigns = Table(
    "campaigns", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("sends_per_day", Integer, nullable=False),
    Column("target_recovery_rate", Numeric(5, 4), nullable=False),
    Column("communities", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Who did what to a dead-letter queue (list, show, replay, purge): services/cases/dead_letters.py.
ops_audit = Table(
    "ops_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),  # the staff subject (API) or the OS user (CLI)
    Column("actor_kind", String(16), nullable=False),  # staff | os_user
    Column("action", String(32), nullable=False),  # list | show | replay | replay_all | purge
    Column("queue", String(200), nullable=False),
    Column("message_id", String(64)),
    Column("affected", Integer, nullable=False),  # messages listed, replayed or purged
    Column("detail", JSON),
    Index("ix_ops_audit_at", "at"),
)

# Owners' questions no FAQ entry answered: a person answers them (staff inbox).
staff_inbox = Table(
    "staff_inbox", metadata,
    Column("id", String(36), primary_key=True),
    Column("reply_id", String(36), ForeignKey("owner_replies.id"), nullable=False, unique=True),
    Column("community", String(64)),  # None: the sender is not (yet) known; admins see these
    Column("owner_id", String(36), ForeignKey("owners.id")),
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("channel", String(8), nullable=False),
    Column("question", Text, nullable=False),
    Column("language", String(8)),
    Column("status", String(16), nullable=False),  # open | answered
    Column("received_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime()),
    Column("answered_by", String(64)),
    Column("note", Text),
    Index("ix_staff_inbox_status", "status", "community", "received_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
