"""HTTP bodies of the cases API (marshmallow at the edge; post_load returns commands)."""
from __future__ import annotations

import phonenumbers
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from services.cases import domain
from services.cases.ladder import STAGES
from shared.events import ISSUE_CATEGORIES, LOCALES
from shared.schemas import IN_CALENDAR, StrictSchema, page_field

Money = fields.Decimal(as_string=True, places=2)


def e164(value: str) -> str:
    """Normalise a phone number to E.164 (mainland numbers may omit +86), or raise ValidationError."""
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
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=320))
    locale = fields.Str(load_default="zh-CN", validate=validate.OneOf(LOCALES))
    key_owner = fields.Bool(load_default=False)

    @validates("phone")
    def _phone(self, value, **_):
        if value is not None:
            e164(value)

    @post_load
    def make(self, data, **_):
        phone = e164(data["phone"]) if data["phone"] else None
        email = data["email"].lower() if data["email"] else None
        return domain.OwnerDetails(data["name"].strip(), phone, email, data["locale"], data["key_owner"])


class OpenCaseIn(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    amount_owed = fields.Decimal(
        required=True, places=2, validate=validate.Range(min=0, min_inclusive=False, max=10**9)
    )
    owner = fields.Nested(OwnerIn, required=True)
    building = fields.Str(load_default="-", validate=validate.Length(min=1, max=32))
    unit_number = fields.Str(load_default="-", validate=validate.Length(min=1, max=32))
    fee_period = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))
    due_date = fields.Date(load_default=None, allow_none=True, validate=IN_CALENDAR)

    @post_load
    def make(self, data, **_):
        return domain.OpenCase(**data)


class MessageOut(Schema):
    notification_id = fields.Str()
    channel = fields.Str()
    provider = fields.Str(allow_none=True)
    provider_message_id = fields.Str(allow_none=True)
    status = fields.Str()
    error_code = fields.Str(allow_none=True)
    updated_at = fields.DateTime()


class ReplyOut(Schema):
    id = fields.Str()
    channel = fields.Str()
    body = fields.Str()
    intent = fields.Str(allow_none=True)
    received_at = fields.DateTime()


class ContactOut(Schema):
    channel = fields.Str()
    address = fields.Str()
    status = fields.Str()


class OwnerOut(Schema):
    id = fields.Str()
    name = fields.Str()
    locale = fields.Str()
    key_owner = fields.Bool()
    contact_status = fields.Str()
    broken_promises = fields.Int()
    contacts = fields.List(fields.Nested(ContactOut))


class PromiseIn(StrictSchema):
    promised_date = fields.Date(required=True, validate=IN_CALENDAR)
    amount = fields.Decimal(load_default=None, allow_none=True, places=2,
                            validate=validate.Range(min=0, min_inclusive=False, max=10**9))


class PromiseOut(Schema):
    id = fields.Str()
    case_id = fields.Str()
    promised_date = fields.Date()
    amount = fields.Decimal(as_string=True, places=2, allow_none=True)
    source = fields.Str()
    status = fields.Str()
    resolved_on = fields.Date(allow_none=True)


class StageMoveOut(Schema):
    stage = fields.Str()
    entered_on = fields.Date()
    reason = fields.Str()


class CaseOut(Schema):
    id = fields.Str()
    community = fields.Str()
    amount_owed = Money
    amount_recovered = Money
    status = fields.Str()
    stage = fields.Str()
    stage_entered_on = fields.Date()
    due_date = fields.Date()
    awaiting_approval = fields.Str(allow_none=True)
    paused_until = fields.Date(allow_none=True)
    assignee_id = fields.Str(allow_none=True)
    opened_at = fields.DateTime()
    closed_reason = fields.Str(allow_none=True)
    owner = fields.Nested(OwnerOut)
    stages = fields.List(fields.Nested(StageMoveOut))
    messages = fields.List(fields.Nested(MessageOut))
    replies = fields.List(fields.Nested(ReplyOut))
    promises = fields.List(fields.Nested(PromiseOut))


class CaseFilter(StrictSchema):
    page = page_field()
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))
    status = fields.Str(load_default=None, validate=validate.OneOf(("open", "closed")))
    stage = fields.Str(load_default=None, validate=validate.OneOf(STAGES))
    community = fields.Str(load_default=None)


class CaseSummary(Schema):
    id = fields.Str()
    community = fields.Str()
    owner_id = fields.Str()
    amount_owed = Money
    status = fields.Str()
    stage = fields.Str()
    opened_at = fields.DateTime()


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseSummary))
    page = fields.Int()
    per_page = fields.Int()
    total = fields.Int()


class ApprovalIn(StrictSchema):
    stage = fields.Str(required=True, validate=validate.OneOf(STAGES[1:]))
    note = fields.Str(load_default=None, validate=validate.Length(max=1000))


class IssueIn(StrictSchema):
    case_id = fields.Str(required=True)
    category = fields.Str(required=True, validate=validate.OneOf(ISSUE_CATEGORIES))
    description = fields.Str(required=True, validate=validate.Length(min=1, max=4000))
    assignee_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=36),
                             metadata={"description": "Active staff of the case's community."})


class IssueStatusIn(StrictSchema):
    status = fields.Str(required=True, validate=validate.OneOf(("in_progress", "resolved")))
    note = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class IssueOut(Schema):
    id = fields.Str()
    case_id = fields.Str(allow_none=True)
    owner_id = fields.Str()
    community = fields.Str()
    category = fields.Str()
    description = fields.Str()
    source = fields.Str()
    assignee_id = fields.Str(allow_none=True)
    status = fields.Str()
    deadline_at = fields.DateTime()
    breached_at = fields.DateTime(allow_none=True)
    resolution = fields.Str(allow_none=True)
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class IssueFilter(StrictSchema):
    page = page_field()
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))
    status = fields.Str(load_default=None, validate=validate.OneOf(("open", "in_progress", "resolved")))
    category = fields.Str(load_default=None, validate=validate.OneOf(ISSUE_CATEGORIES))
    breached = fields.Bool(load_default=None)
    community = fields.Str(load_default=None)


class IssuePage(Schema):
    items = fields.List(fields.Nested(IssueOut))
    page = fields.Int()
    per_page = fields.Int()
    total = fields.Int()
