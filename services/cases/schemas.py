"""HTTP bodies of the cases API (marshmallow at the edge; post_load returns commands)."""
from __future__ import annotations

import phonenumbers
from marshmallow import ValidationError, fields, post_load, validate, validates

from services.cases import domain
from shared.events import LOCALES
from shared.schemas import StrictSchema


def e164(value: str) -> str:
    """Normalise a phone number to E.164, or raise ValidationError."""
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("Not a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class OwnerIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.Str(load_default=None, allow_none=True)
    email = fields.Email(load_default=None, allow_none=True)
    locale = fields.Str(load_default="zh-CN", validate=validate.OneOf(LOCALES))

    @validates("phone")
    def _phone(self, value, **_):
        if value is not None:
            e164(value)

    @post_load
    def make(self, data, **_):
        phone = e164(data["phone"]) if data["phone"] else None
        email = data["email"].lower() if data["email"] else None
        return domain.OwnerDetails(data["name"].strip(), phone, email, data["locale"])


class OpenCaseIn(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    amount_owed = fields.Decimal(
        required=True, places=2, validate=validate.Range(min=0, min_inclusive=False, max=10**9)
    )
    owner = fields.Nested(OwnerIn, required=True)

    @post_load
    def make(self, data, **_):
        return domain.OpenCase(**data)


class MessageOut(StrictSchema):
    notification_id = fields.Str()
    channel = fields.Str()
    provider = fields.Str()
    provider_message_id = fields.Str()
    status = fields.Str()
    error_code = fields.Str()
    updated_at = fields.DateTime()


class ReplyOut(StrictSchema):
    id = fields.Str()
    channel = fields.Str()
    body = fields.Str()
    received_at = fields.DateTime()


class OwnerOut(StrictSchema):
    id = fields.Str()
    name = fields.Str()
    phone = fields.Str()
    email = fields.Str()
    locale = fields.Str()


class CaseOut(StrictSchema):
    id = fields.Str()
    community = fields.Str()
    amount_owed = fields.Decimal(as_string=True, places=2)
    status = fields.Str()
    stage = fields.Str()
    opened_at = fields.DateTime()
    owner = fields.Nested(OwnerOut)
    messages = fields.List(fields.Nested(MessageOut))
    replies = fields.List(fields.Nested(ReplyOut))


class PageIn(StrictSchema):
    page = fields.Int(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))
