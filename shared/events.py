"""Payload schemas of every event on the bus, keyed by (type, version).

The envelope `type` is also the routing key. Services agree on these and nothing else:
no service reads another's tables.
"""
from __future__ import annotations

from functools import cache

from marshmallow import Schema, fields, validate

from shared.schemas import StrictSchema

CHANNELS = ("sms", "email", "letter")
LOCALES = ("zh-CN", "en")
INTENTS = (
    "promise_to_pay", "paid_already", "complaint", "dispute", "hardship", "question",
    "opt_out", "opt_in", "help", "unknown",
)
ISSUE_CATEGORIES = (
    "repairs", "leaks", "cleaning", "security", "parking", "lifts", "noise", "greenery",
    "billing_dispute", "service_attitude", "other",
)
DELIVERY_STATUSES = (
    "accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "canceled",  # Twilio
    "processed", "deferred", "bounce", "dropped", "open", "click",  # SendGrid
)


class Recipient(StrictSchema):
    owner_id = fields.Str(required=True)
    name = fields.Str(required=True, validate=validate.Length(max=200))
    phone = fields.Str(load_default=None, allow_none=True)
    email = fields.Email(load_default=None, allow_none=True)
    locale = fields.Str(load_default="zh-CN", validate=validate.OneOf(LOCALES))


class CaseOpened(StrictSchema):
    case_id = fields.Str(required=True)
    owner_id = fields.Str(required=True)
    community = fields.Str(required=True)
    amount_owed = fields.Decimal(required=True, as_string=True, places=2)


class CaseClosed(StrictSchema):
    case_id = fields.Str(required=True)
    owner_id = fields.Str(required=True)
    reason = fields.Str(required=True, validate=validate.OneOf(("paid", "withdrawn", "written_off")))


class ReminderRequested(StrictSchema):
    notification_id = fields.UUID(required=True)
    case_id = fields.Str(required=True)
    community = fields.Str(load_default=None, allow_none=True)
    stage = fields.Str(required=True)
    # The n-th send of the day for this case (0-based): the notifier puts slot n in the n-th
    # open send window of the owner's day, so several a day never bunch up.
    slot = fields.Int(load_default=0, validate=validate.Range(min=0, max=5))
    send_on = fields.Date(load_default=None, allow_none=True)
    channels = fields.List(
        fields.Str(validate=validate.OneOf(CHANNELS)), required=True, validate=validate.Length(min=1)
    )
    recipient = fields.Nested(Recipient, required=True)
    template = fields.Str(required=True)
    context = fields.Dict(keys=fields.Str(), load_default=dict)


class MessageSent(StrictSchema):
    notification_id = fields.UUID(required=True)
    case_id = fields.Str(required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    address = fields.Str(load_default=None, allow_none=True)
    provider = fields.Str(required=True)
    provider_message_id = fields.Str(required=True)
    sent_at = fields.AwareDateTime(required=True)


class MessageFailed(StrictSchema):
    notification_id = fields.UUID(required=True)
    case_id = fields.Str(required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    address = fields.Str(load_default=None, allow_none=True)  # the phone/email that failed
    provider = fields.Str(required=True)
    error_code = fields.Str(load_default=None, allow_none=True)
    permanent = fields.Bool(required=True)


class DeliveryReported(StrictSchema):
    provider = fields.Str(required=True, validate=validate.OneOf(("twilio", "sendgrid", "console")))
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    provider_message_id = fields.Str(required=True)
    notification_id = fields.UUID(load_default=None, allow_none=True)
    address = fields.Str(load_default=None, allow_none=True)  # Twilio's To, SendGrid's email
    status = fields.Str(required=True, validate=validate.OneOf(DELIVERY_STATUSES))
    error_code = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=16))
    reported_at = fields.AwareDateTime(required=True)


class OwnerReplied(StrictSchema):
    channel = fields.Str(required=True, validate=validate.OneOf(("sms", "email", "form")))
    sender = fields.Str(required=True, validate=validate.Length(min=1, max=320))
    recipient = fields.Str(load_default=None, allow_none=True)
    body = fields.Str(required=True, validate=validate.Length(max=10_000))
    provider_message_id = fields.Str(required=True, validate=validate.Length(min=1, max=128))
    received_at = fields.AwareDateTime(required=True)
    # What the gateway understood the owner to mean (absent: not interpreted).
    intent = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(INTENTS))
    promised_date = fields.Date(load_default=None, allow_none=True)
    amount = fields.Decimal(load_default=None, allow_none=True, as_string=True, places=2)
    category = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(ISSUE_CATEGORIES))
    language = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(LOCALES))
    # The FAQ entry whose answer the gateway sent back (absent: none did; cases keeps the question).
    faq_entry_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=36))


class CaseEscalated(StrictSchema):
    case_id = fields.Str(required=True)
    owner_id = fields.Str(required=True)
    community = fields.Str(required=True)
    from_stage = fields.Str(required=True)
    to_stage = fields.Str(required=True)
    reason = fields.Str(required=True, validate=validate.OneOf(("due", "promise_broken", "issue_breached", "staff")))
    entered_on = fields.Date(required=True)
    # The new stage's notice to send (the first send of the day), carried by the move itself so
    # a sweep publishes one event per move; None for a stage with nothing to send.
    notice = fields.Nested(ReminderRequested, load_default=None, allow_none=True)


class ApprovalRequested(StrictSchema):
    case_id = fields.Str(required=True)
    community = fields.Str(required=True)
    stage = fields.Str(required=True)
    key_owner = fields.Bool(required=True)


class PromiseRecorded(StrictSchema):
    promise_id = fields.Str(required=True)
    case_id = fields.Str(required=True)
    owner_id = fields.Str(required=True)
    promised_date = fields.Date(required=True)
    amount = fields.Decimal(load_default=None, allow_none=True, as_string=True, places=2)
    source = fields.Str(required=True, validate=validate.OneOf(("sms", "email", "staff", "form")))


class PromiseSettled(StrictSchema):
    """Both promise.kept and promise.broken."""

    promise_id = fields.Str(required=True)
    case_id = fields.Str(required=True)
    owner_id = fields.Str(required=True)
    promised_date = fields.Date(required=True)


class PaymentRecorded(StrictSchema):
    payment_id = fields.Str(required=True)
    case_id = fields.Str(load_default=None, allow_none=True)
    owner_id = fields.Str(required=True)
    community = fields.Str(required=True)
    amount = fields.Decimal(required=True, as_string=True, places=2)
    paid_on = fields.Date(required=True)
    amount_owed_after = fields.Decimal(required=True, as_string=True, places=2)


class IssueChanged(StrictSchema):
    """issue.opened, issue.breached and issue.resolved."""

    issue_id = fields.Str(required=True)
    case_id = fields.Str(load_default=None, allow_none=True)
    owner_id = fields.Str(required=True)
    community = fields.Str(required=True)
    category = fields.Str(required=True, validate=validate.OneOf(ISSUE_CATEGORIES))
    deadline_at = fields.AwareDateTime(required=True)
    assignee_id = fields.Str(load_default=None, allow_none=True)


class OwnerUnreachable(StrictSchema):
    owner_id = fields.Str(required=True)
    community = fields.Str(required=True)
    task_id = fields.Str(required=True)


class CommunityConfigured(StrictSchema):
    """A community's calendar, as the notifier needs it to decide when sending is allowed."""

    community = fields.Str(required=True)
    timezone = fields.Str(required=True)
    locale = fields.Str(required=True, validate=validate.OneOf(LOCALES))
    send_windows = fields.List(fields.Str(validate=validate.Regexp(r"^\d{2}:\d{2}$")), required=True)
    quiet_start = fields.Str(required=True, validate=validate.Regexp(r"^\d{2}:\d{2}$"))
    quiet_end = fields.Str(required=True, validate=validate.Regexp(r"^\d{2}:\d{2}$"))
    holiday_calendar = fields.Str(load_default=None, allow_none=True)
    skip_weekends = fields.Bool(required=True)


class SuppressionChanged(StrictSchema):
    channel = fields.Str(required=True, validate=validate.OneOf(("sms", "email")))
    address = fields.Str(required=True, validate=validate.Length(min=3, max=320))
    opted_out = fields.Bool(required=True)
    source = fields.Str(required=True)  # e.g. "reply", "provider_21610", "staff"


AUTO_REPLY_KINDS = (
    "promise_ack",  # cases: a promise read from a reply was recorded; context.promised_date
    "ask_date",  # gateway: a vague promise ("过几天", "soon"): which day?
    "faq_answer",  # gateway: a question matched a FAQ entry; context.answer (in the owner's language)
    "help",  # gateway: HELP / 帮助
    "opt_out_confirmed",  # gateway: the one confirmation an opted-out address still gets
    "opt_in_confirmed",  # gateway: START / 订阅
)


class AutoReplyRequested(StrictSchema):
    """An answer to something an owner sent us; the notifier sends it through its governor.

    `reply_id` is the idempotency key: one auto-reply per (reply_id, kind), however often the
    event arrives. `owner_id` may be absent when the sender is not (yet) known to cases; the
    notifier then counts caps against the address.
    """

    reply_id = fields.UUID(required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(AUTO_REPLY_KINDS))
    channel = fields.Str(required=True, validate=validate.OneOf(("sms", "email")))
    address = fields.Str(required=True, validate=validate.Length(min=3, max=320))
    locale = fields.Str(load_default="zh-CN", validate=validate.OneOf(LOCALES))
    in_reply_to = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=128))
    owner_id = fields.Str(load_default=None, allow_none=True)
    case_id = fields.Str(load_default=None, allow_none=True)
    community = fields.Str(load_default=None, allow_none=True)
    context = fields.Dict(keys=fields.Str(), load_default=dict)


FORM_REASONS = (
    "service_complaint", "disputed_amount", "hardship", "vacant_unit", "bill_not_received", "other",
)


class FormReason(StrictSchema):
    reason = fields.Str(required=True, validate=validate.OneOf(FORM_REASONS))
    category = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(ISSUE_CATEGORIES))
    disputed_amount = fields.Decimal(load_default=None, allow_none=True, as_string=True, places=2)
    detail = fields.Str(load_default="", validate=validate.Length(max=2000))


class FormSubmitted(StrictSchema):
    """The owner's answer on the reply form (律师函后函), from the gateway to cases."""

    submission_id = fields.UUID(required=True)
    owner_id = fields.Str(required=True)
    case_id = fields.Str(required=True)
    reasons = fields.List(fields.Nested(FormReason), required=True, validate=validate.Length(min=1, max=6))
    problem = fields.Str(load_default="", validate=validate.Length(max=2000))  # what should be fixed
    locale = fields.Str(load_default="zh-CN", validate=validate.OneOf(LOCALES))
    submitted_at = fields.AwareDateTime(required=True)


class StaffReportRequested(StrictSchema):
    """A report emailed to managers (cases renders it; the notifier sends it, governor-free)."""

    report_id = fields.UUID(required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(("three_day", "daily_progress")))
    community = fields.Str(load_default=None, allow_none=True)
    recipients = fields.List(fields.Email(), required=True, validate=validate.Length(min=1, max=50))
    subject = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    html = fields.Str(required=True, validate=validate.Length(max=2_000_000))
    text = fields.Str(required=True, validate=validate.Length(max=200_000))


PAYLOADS: dict[tuple[str, int], type[Schema]] = {
    ("case.opened", 1): CaseOpened,
    ("case.closed", 1): CaseClosed,
    ("reminder.requested", 1): ReminderRequested,
    ("message.sent", 1): MessageSent,
    ("message.failed", 1): MessageFailed,
    ("delivery.reported", 1): DeliveryReported,
    ("owner.replied", 1): OwnerReplied,
    ("case.escalated", 1): CaseEscalated,
    ("approval.requested", 1): ApprovalRequested,
    ("promise.recorded", 1): PromiseRecorded,
    ("promise.kept", 1): PromiseSettled,
    ("promise.broken", 1): PromiseSettled,
    ("payment.recorded", 1): PaymentRecorded,
    ("issue.opened", 1): IssueChanged,
    ("issue.breached", 1): IssueChanged,
    ("issue.resolved", 1): IssueChanged,
    ("owner.unreachable", 1): OwnerUnreachable,
    ("suppression.changed", 1): SuppressionChanged,
    ("community.configured", 1): CommunityConfigured,
    ("autoreply.requested", 1): AutoReplyRequested,
    ("form.submitted", 1): FormSubmitted,
    ("staff_report.requested", 1): StaffReportRequested,
}


@cache
def payload_schema(type_: str, version: int) -> Schema:
    """Return the schema for this event type and version; KeyError if none is registered.

    Schemas hold no per-call state, so one instance per type is shared (building one per
    message was a third of the decode time).
    """
    return PAYLOADS[(type_, version)]()
