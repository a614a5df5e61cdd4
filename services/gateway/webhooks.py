"""Twilio webhooks: delivery status callbacks and inbound SMS from owners."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, request
from marshmallow import EXCLUDE, ValidationError, fields, validate
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.messaging_response import MessagingResponse

from services.gateway.acceptance import accept_once
from services.gateway.intent import read_reply
from services.gateway.signatures import twilio_signature_valid
from shared.envelope import new_event
from shared.events import DELIVERY_STATUSES
from shared.schemas import StrictSchema
from shared.web import error_response

log = logging.getLogger(__name__)
# The gateway does not know the sender's community (cases matches the number), so replies are
# read in the product's default timezone; cases counts its own "today" in the community's.
REPLY_TIMEZONE = "Asia/Shanghai"
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


class TwilioForm(StrictSchema):
    class Meta:
        # Twilio adds parameters over time; we read the ones we need and keep the signature whole.
        unknown = EXCLUDE


class StatusCallback(TwilioForm):
    MessageSid = fields.Str(required=True, validate=validate.Regexp(r"^(SM|MM)[0-9a-fA-F]{32}$"))
    MessageStatus = fields.Str(required=True, validate=validate.OneOf(DELIVERY_STATUSES))
    ErrorCode = fields.Str(load_default=None)


class InboundSms(TwilioForm):
    MessageSid = fields.Str(required=True, validate=validate.Regexp(r"^(SM|MM)[0-9a-fA-F]{32}$"))
    From = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    To = fields.Str(load_default=None)
    Body = fields.Str(load_default="", validate=validate.Length(max=10_000))


def _verified() -> bool:
    settings = current_app.config["SETTINGS"]
    if twilio_signature_valid(settings.twilio_auth_token, settings.gateway_public_url, request):
        return True
    log.warning("webhook signature rejected", extra={"path": request.path})
    return False


def _accept(key: str, event, *more) -> Response | None:
    """Store the event(s) durably; a 503 (so Twilio retries) if that is impossible right now."""
    try:
        accept_once(current_app.extensions["gateway.db"], key, event, *more)
    except SQLAlchemyError:
        log.exception("could not store webhook event")
        return error_response(503, "Temporarily unable to accept; please retry.")
    return None


@bp.post("/twilio/status")
def twilio_status():
    if not _verified():
        return error_response(403, "Signature check failed.")
    try:
        form = StatusCallback().load(request.form.to_dict())
    except ValidationError as exc:
        return error_response(400, "Not a Twilio status callback.", exc.messages)
    notification_id = request.args.get("n") or None
    try:
        event = new_event("delivery.reported", {
            "provider": "twilio", "channel": "sms", "provider_message_id": form["MessageSid"],
            "notification_id": notification_id, "status": form["MessageStatus"],
            "error_code": form["ErrorCode"], "reported_at": datetime.now(UTC),
        })
    except ValidationError as exc:
        return error_response(400, "Bad notification reference.", exc.messages)
    key = f"twilio-status:{form['MessageSid']}:{form['MessageStatus']}"
    return _accept(key, event) or Response(status=204)


def _understood(body: str, received_at: datetime) -> dict:
    """The intent fields of owner.replied; none if the reply could not be read (staff still see it)."""
    try:
        reading = read_reply(body, received_at, REPLY_TIMEZONE)
    except Exception:  # a reader bug must not lose the owner's message or make Twilio retry it
        log.exception("could not read an inbound reply")
        return {}
    return {"intent": reading.intent, "promised_date": reading.promised_date, "amount": reading.amount,
            "category": reading.category, "language": reading.language}


@bp.post("/twilio/sms")
def twilio_inbound_sms():
    if not _verified():
        return error_response(403, "Signature check failed.")
    try:
        form = InboundSms().load(request.form.to_dict())
    except ValidationError as exc:
        return error_response(400, "Not a Twilio inbound message.", exc.messages)
    received_at = datetime.now(UTC)
    event = new_event("owner.replied", {
        "channel": "sms", "sender": form["From"], "recipient": form["To"], "body": form["Body"],
        "provider_message_id": form["MessageSid"], "received_at": received_at,
        **_understood(form["Body"], received_at),
    })
    failure = _accept(f"twilio-sms:{form['MessageSid']}", event, *_suppression(event.payload))
    if failure is not None:
        return failure
    return Response(str(MessagingResponse()), mimetype="application/xml")


def _suppression(reply: dict) -> list:
    """An opt-out (or back in) by text changes the suppression list for that phone, with the reply."""
    if reply.get("intent") not in ("opt_out", "opt_in"):
        return []
    return [new_event("suppression.changed", {
        "channel": "sms", "address": reply["sender"], "opted_out": reply["intent"] == "opt_out",
        "source": "reply",
    })]
