"""Staff see how the gateway reads a reply: POST /api/v1/replies/interpret."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import fields, validate

from services.gateway.intent import read_reply
from shared.auth import require_staff
from shared.schemas import IN_CALENDAR_AT, StrictSchema, known_timezone
from shared.web import error_response

bp = Blueprint("interpret", __name__, url_prefix="/api/v1/replies")


class InterpretIn(StrictSchema):
    text = fields.Str(required=True, validate=validate.Length(max=10_000))
    received_at = fields.AwareDateTime(required=True, validate=IN_CALENDAR_AT)
    timezone = fields.Str(required=True, validate=known_timezone)


@bp.post("/interpret")
@require_staff()
def interpret():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "Expected a JSON object.")
    args = InterpretIn().load(body)  # a ValidationError is the app's 422
    reading = read_reply(args["text"], args["received_at"], args["timezone"])
    return jsonify({
        "intent": reading.intent,
        "promised_date": reading.promised_date.isoformat() if reading.promised_date else None,
        "amount": str(reading.amount) if reading.amount is not None else None,
        "category": reading.category,
        "language": reading.language,
    })
