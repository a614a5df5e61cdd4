"""Twilio webhooks: delivery status callbacks and inbound SMS from owners."""
from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, request
from marshmallow import EXCLUDE, ValidationError, fields, validate
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.messaging_response import MessagingResponse

from services.gateway.acceptance import accept_once, accept_read
from services.gateway.directory import SenderPlace, place_of
from services.gateway.faq.matching import answering
from services.gateway.intent import read_reply
from services.gateway.sendgrid import now
from services.gateway.signatures import twilio_signature_valid
from shared.envelope import new_event
from shared.events import DELIVERY_STATUSES
from shared.schemas import StrictSchema
from shared.web import error_response

log = logging.getLogger(__name__)
FAQ_INTENTS = ("question", "unknown")  # what the FAQ may answer; HELP gets the help text instead
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
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


# Loading with a schema reads nothing from the instance but its fields: one of each serves every
# request (building one per request deep-copies its fields, a noticeable part of a webhook's cost).
STATUS_CALLBACK, INBOUND_SMS = StatusCallback(), InboundSms()
# Our answer to every inbound text: nothing (auto-replies go out through the notifier's rules).
EMPTY_TWIML = str(MessagingResponse())


def _verified() -> bool:
    settings = current_app.config["SETTINGS"]
    if twilio_signature_valid(settings.twilio_auth_token, settings.gateway_public_url, request):
        return True
    log.warning("webhook signature rejected", extra={"path": request.path})
    return False


def _keys(key: str) -> tuple[str, ...]:
    """The delivery's own key and, when Twilio sends one, its idempotency token (same on every retry)."""
    token = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not token:
        return (key,)
    if len(token) > 150:
        token = "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    return key, f"twilio-idempotency:{token}"


def _accept(key: str, event, *more, read=None) -> Response | None:
    """Store the event(s) durably; a 503 (so Twilio retries) if that is impossible right now.

    `read(connection)`, when given, builds the events in the accepting transaction instead.
    """
    engine = current_app.extensions["gateway.db"]
    try:
        if read is None:
            accept_once(engine, _keys(key), event, *more)
        else:
            accept_read(engine, _keys(key), read)
    except SQLAlchemyError:
        log.exception("could not store webhook event")
        return error_response(503, "Temporarily unable to accept; please retry.")
    return None


@bp.post("/twilio/status")
def twilio_status():
    if not _verified():
        return error_response(403, "Signature check failed.")
    try:
        form = STATUS_CALLBACK.load(request.form.to_dict())
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


def _understood(connection, body: str, received_at: datetime, channel: str | None = None,
                sender: str | None = None) -> dict:
    """The intent fields of owner.replied; none if the reply could not be read (staff still see it).

    Dates are read in the sender's community timezone when the directory knows the sender; the
    directory is asked only when the reply names something like a day (most replies do not). A
    question (or a reply we could not otherwise read) that an FAQ entry answers well enough names
    that entry, and is a question. Runs on the accepting connection: if the store fails, the whole
    delivery answers 503 and the provider retries it.
    """
    def timezone() -> str:
        place = place_of(connection, channel, sender) if channel and sender else SenderPlace()
        return place.timezone

    try:
        reading = read_reply(body, received_at, timezone)
    except SQLAlchemyError:
        raise  # the store is down: 503, and the provider retries
    except Exception:  # a reader bug must not lose the owner's message
        log.exception("could not read an inbound reply")
        return {}
    match = None
    if reading.intent in FAQ_INTENTS and body.strip():
        entries = current_app.extensions["gateway.faq"].entries(connection)
        match = answering(body, entries, current_app.config["FAQ_MATCH_THRESHOLD"])
    fields = {"intent": reading.intent, "promised_date": reading.promised_date, "amount": reading.amount,
              "category": reading.category, "language": reading.language}
    return {**fields, "intent": "question", "faq_entry_id": match.entry.id} if match else fields


@bp.post("/twilio/sms")
def twilio_inbound_sms():
    if not _verified():
        return error_response(403, "Signature check failed.")
    try:
        form = INBOUND_SMS.load(request.form.to_dict())
    except ValidationError as exc:
        return error_response(400, "Not a Twilio inbound message.", exc.messages)
    received_at = now()

    def read(connection):
        event = new_event("owner.replied", {
            "channel": "sms", "sender": form["From"], "recipient": form["To"], "body": form["Body"],
            "provider_message_id": form["MessageSid"], "received_at": received_at,
            **_understood(connection, form["Body"], received_at, "sms", form["From"]),
        })
        return (event, *_suppression(event.payload))

    failure = _accept(f"twilio-sms:{form['MessageSid']}", None, read=read)
    if failure is not None:
        return failure
    return Response(EMPTY_TWIML, mimetype="application/xml")


def _suppression(reply: dict) -> list:
    """An opt-out (or back in) by text changes the suppression list for that phone, with the reply."""
    if reply.get("intent") not in ("opt_out", "opt_in"):
        return []
    return [new_event("suppression.changed", {
        "channel": "sms", "address": reply["sender"], "opted_out": reply["intent"] == "opt_out",
        "source": "reply",
    })]
