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
    stage = fields.Str(required=True)
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
    provider = fields.Str(required=True)
    provider_message_id = fields.Str(required=True)
    sent_at = fields.AwareDateTime(required=True)


class MessageFailed(StrictSchema):
    notification_id = fields.UUID(required=True)
    case_id = fields.Str(required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    provider = fields.Str(required=True)
    error_code = fields.Str(load_default=None, allow_none=True)
    permanent = fields.Bool(required=True)


class DeliveryReported(StrictSchema):
    provider = fields.Str(required=True, validate=validate.OneOf(("twilio", "sendgrid", "console")))
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    provider_message_id = fields.Str(required=True)
    notification_id = fields.UUID(load_default=None, allow_none=True)
    status = fields.Str(required=True, validate=validate.OneOf(DELIVERY_STATUSES))
    error_code = fields.Str(load_default=None, allow_none=True)
    reported_at = fields.AwareDateTime(required=True)


class OwnerReplied(StrictSchema):
    channel = fields.Str(required=True, validate=validate.OneOf(("sms", "email", "form")))
    sender = fields.Str(required=True, validate=validate.Length(min=1, max=320))
    recipient = fields.Str(load_default=None, allow_none=True)
    body = fields.Str(required=True, validate=validate.Length(max=10_000))
    provider_message_id = fields.Str(required=True)
    received_at = fields.AwareDateTime(required=True)


PAYLOADS: dict[tuple[str, int], type[Schema]] = {
    ("case.opened", 1): CaseOpened,
    ("case.closed", 1): CaseClosed,
    ("reminder.requested", 1): ReminderRequested,
    ("message.sent", 1): MessageSent,
    ("message.failed", 1): MessageFailed,
    ("delivery.reported", 1): DeliveryReported,
    ("owner.replied", 1): OwnerReplied,
}


@cache
def payload_schema(type_: str, version: int) -> Schema:
    """Return the schema for this event type and version; KeyError if none is registered.

    Schemas hold no per-call state, so one instance per type is shared (building one per
    message was a third of the decode time).
    """
    return PAYLOADS[(type_, version)]()
