"""SendGrid's Event Webhook: signed batches of delivery and engagement events, each event accepted once.

Each event becomes a `delivery.reported` (processed ... click) or, for an unsubscribe or spam
report, a `suppression.changed`; other event types are acknowledged and dropped.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, request
from marshmallow import EXCLUDE, ValidationError, fields, validate, validates_schema
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from services.gateway.sendgrid import now
from services.gateway.sendgrid.acceptance import accept_each, stored_or_503
from services.gateway.sendgrid.signature import load_public_key, refusal
from shared.envelope import Envelope, new_event
from shared.schemas import StrictSchema
from shared.web import error_response

log = logging.getLogger(__name__)
bp = Blueprint("sendgrid_events", __name__, url_prefix="/webhooks/sendgrid")

# SendGrid posts a batch every 30 s or when it reaches 768 KB; 2 MiB leaves room for a large
# batch without letting an unsigned body of any size be buffered (it is read before the check).
MAX_EVENT_BATCH_BYTES = 2 * 1024 * 1024
PUBLIC_KEY = "gateway.sendgrid_public_key"
DELIVERY_EVENTS = frozenset({"processed", "deferred", "delivered", "bounce", "dropped", "open", "click"})
# The owner's own choice, made at SendGrid: True opts the address out, False back in.
OPT_OUT_EVENTS = {"unsubscribe": True, "group_unsubscribe": True, "spamreport": True, "group_resubscribe": False}
# Consumers keep error codes in 16 characters; SendGrid's drop reasons are sentences.
DROP_REASONS = {
    "bounced address": "bounced", "unsubscribed address": "unsubscribed",
    "spam reporting address": "spam_reported", "invalid": "invalid",
    "invalid smtpapi header": "invalid_header", "recipient list over package quota": "over_quota",
}
ERROR_CODE_LENGTH = 16
PROVIDER_MESSAGE_ID_LENGTH = 64  # what consumers store; an X-Message-Id is 22


@bp.record_once
def _load_key(state) -> None:
    # Parsed once at start: a malformed key stops the gateway instead of refusing every batch.
    key = state.app.config["SETTINGS"].sendgrid_webhook_public_key
    state.app.extensions[PUBLIC_KEY] = load_public_key(key)


def x_message_id(sg_message_id: str) -> str:
    """The X-Message-Id SendGrid answered the send with: sg_message_id without its relay suffix.

    "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-...-9.0" and the newer
    "56WoYBdESN6RyEn_7bJRKA.recvd-5b6594c664-...-A.0" both start with it.
    """
    for marker in (".filter", ".recvd"):
        head, found, _ = sg_message_id.partition(marker)
        if found:
            return head
    return sg_message_id.split(".", 1)[0]


class SendGridEvent(StrictSchema):
    class Meta:
        # SendGrid adds fields over time, and custom args (notification_id) arrive as top-level keys.
        unknown = EXCLUDE

    sg_event_id = fields.Str(required=True, validate=validate.Length(min=1, max=150))
    event = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    email = fields.Str(required=True, validate=validate.Length(min=3, max=320))
    sg_message_id = fields.Str(load_default=None, validate=validate.Length(min=1, max=255))
    timestamp = fields.Raw(load_default=None)  # a bad one costs only its own time, not the batch
    reason = fields.Raw(load_default=None)
    status = fields.Raw(load_default=None)
    type = fields.Raw(load_default=None)
    notification_id = fields.Raw(load_default=None)

    @validates_schema
    def _message_id_for_deliveries(self, data, **_):
        if data["event"] not in DELIVERY_EVENTS:
            return
        if not data["sg_message_id"]:
            raise ValidationError("Required for a delivery event.", "sg_message_id")
        if len(x_message_id(data["sg_message_id"])) > PROVIDER_MESSAGE_ID_LENGTH:
            raise ValidationError("Not a SendGrid message id.", "sg_message_id")


def _notification_id(value) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def _error_code(event: dict) -> str | None:
    """A short code for a failure: the SMTP status of a bounce ("5.1.1"), the reason for a drop."""
    if event["event"] == "bounce":
        status = str(event["status"] or "").strip()
        reply = re.match(r"\s*([245]\d\d)\b", str(event["reason"] or ""))
        code = status or (reply.group(1) if reply else "bounce")
        # A block is the receiving server refusing us for now, not a dead address.
        return (f"blocked:{code}" if event["type"] == "blocked" else code)[:ERROR_CODE_LENGTH]
    if event["event"] == "dropped":
        reason = " ".join(str(event["reason"] or "").lower().split())
        return DROP_REASONS.get(reason) or (re.sub(r"\W+", "_", reason).strip("_")[:ERROR_CODE_LENGTH] or None)
    return None


def _reported_at(event: dict) -> datetime:
    try:
        return datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now()


def events_for(event: dict) -> list[Envelope]:
    """The bus events one SendGrid event stands for (none for types we do not follow)."""
    kind = event["event"]
    if kind in DELIVERY_EVENTS:
        return [new_event("delivery.reported", {
            "provider": "sendgrid", "channel": "email",
            "provider_message_id": x_message_id(event["sg_message_id"]),
            "notification_id": _notification_id(event["notification_id"]),
            "address": event["email"], "status": kind, "error_code": _error_code(event),
            "reported_at": _reported_at(event),
        })]
    if kind in OPT_OUT_EVENTS:
        return [new_event("suppression.changed", {
            "channel": "email", "address": event["email"].strip().lower(),
            "opted_out": OPT_OUT_EVENTS[kind], "source": f"sendgrid_{kind}",
        })]
    return []


def _signed_events() -> list[dict] | tuple:
    """The verified, validated batch, or the error response to give instead."""
    request.max_content_length = current_app.config.get("SENDGRID_EVENTS_MAX_CONTENT_LENGTH",
                                                        MAX_EVENT_BATCH_BYTES)
    raw = request.get_data(cache=True)  # a body over the limit is a 413 here, before anything is checked
    reason = refusal(current_app.extensions[PUBLIC_KEY], raw,
                     request.headers.get(EventWebhookHeader.SIGNATURE, ""),
                     request.headers.get(EventWebhookHeader.TIMESTAMP, ""), now())
    if reason is not None:
        log.warning("SendGrid event webhook refused", extra={"reason": reason})
        return error_response(403, "Signature check failed.")
    try:
        batch = json.loads(raw)
    except (ValueError, RecursionError):
        batch = None
    if not isinstance(batch, list) or not all(isinstance(item, dict) for item in batch):
        return error_response(400, "Expected a JSON array of SendGrid events.")
    try:
        return SendGridEvent(many=True).load(batch)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(400, "Not SendGrid events.", {str(k): v for k, v in errors.items()})


@bp.post("/events")
def sendgrid_events():
    events = _signed_events()
    if isinstance(events, tuple):
        return events
    try:
        deliveries = [(f"sendgrid-event:{event['sg_event_id']}", events_for(event)) for event in events]
    except ValidationError as exc:  # an address our event schemas refuse
        return error_response(400, "Not SendGrid events.", exc.messages)
    failure = stored_or_503(lambda: accept_each(current_app.extensions["gateway.db"], deliveries))
    return failure or Response(status=204)
