"""Payments: recorded once per receipt number; a payment that clears a case closes it."""
from __future__ import annotations

from flask import g
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from services.cases import accounts, register
from services.cases.api.common import community_today, engine, require_community
from shared.auth import require_staff
from shared.schemas import IN_CALENDAR, StrictSchema

blp = Blueprint("payments", __name__, url_prefix="/api/v1/payments", description="Payments")


class PaymentIn(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    building = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    unit_number = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    amount = fields.Decimal(required=True, places=2, validate=validate.Range(min=0, min_inclusive=False, max=10**9))
    paid_on = fields.Date(required=True, validate=IN_CALENDAR,
                          metadata={"description": "Not after the community's today."})
    receipt = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class PaymentOut(Schema):
    payment_id = fields.Str(allow_none=True)
    duplicate = fields.Bool()


@blp.post("")
@require_staff("collector", "supervisor", "manager")
@blp.arguments(PaymentIn)
@blp.response(201, PaymentOut)
def record_payment(body):
    require_community(body["community"], missing_status=403)
    with engine().begin() as connection:
        today = community_today(connection, body["community"])
        if body["paid_on"] > today:
            abort(422, message="A payment cannot be dated after today.",
                  errors={"json": {"paid_on": ["After the community's today."]}})
        unit = register.find_unit(connection, register.UnitRecord(body["community"], body["building"],
                                                                  body["unit_number"]))
        if unit is None:
            abort(422, message="No such unit.", errors={"json": {"unit_number": ["No such unit."]}})
        payment_id = accounts.record_payment(connection, accounts.PaymentIn(
            community=body["community"], unit_id=unit.id, amount=body["amount"], paid_on=body["paid_on"],
            external_ref=body["receipt"], source="staff",
        ), today, g.staff.sub)
    if payment_id is None:
        return {"payment_id": None, "duplicate": True}, 200
    return {"payment_id": payment_id, "duplicate": False}
