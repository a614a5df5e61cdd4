"""SendGrid Inbound Parse: an owner's email reply, matched by its tokenised Reply-To and read for intent.

Only a 5xx makes SendGrid retry an Inbound Parse post; any 4xx drops the email for good. So only
what cannot be an email from SendGrid is refused (no secret, not multipart, no sender); anything
that is merely odd (unreadable charsets or envelope, no Message-ID, no text) is accepted and read
as well as it can be.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

from flask import Blueprint, Response, current_app, request
from marshmallow import ValidationError, fields, validate

from services.gateway.acceptance import accept_read
from services.gateway.sendgrid import now
from services.gateway.sendgrid.acceptance import stored_or_503
from services.gateway.sendgrid.form import InboundForm, MalformedForm, read_form
from services.gateway.sendgrid.reply_text import html_text, new_text
from services.gateway.webhooks import _understood
from shared.envelope import new_event
from shared.reply_address import read_reply_address
from shared.schemas import StrictSchema
from shared.web import error_response

log = logging.getLogger(__name__)
bp = Blueprint("sendgrid_inbound", __name__, url_prefix="/webhooks/sendgrid")

# SendGrid refuses messages over 30 MB, attachments included; a little more for the form around them.
MAX_INBOUND_BYTES = 32 * 1024 * 1024
MAX_BODY_CHARS = 10_000
MAX_PROVIDER_MESSAGE_ID = 128  # what cases stores; longer Message-IDs travel as their hash
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class Sender(StrictSchema):
    address = fields.Str(required=True, data_key="from",
                         validate=[validate.Length(min=3, max=320), validate.Regexp(_ADDRESS)])


def _authorised() -> bool:
    """The shared secret, as ?key= in the URL or as the basic-auth password, compared in constant time."""
    settings = current_app.config["SETTINGS"]
    if settings.production and "SENDGRID_INBOUND_SECRET" not in settings.explicit:
        log.error("SENDGRID_INBOUND_SECRET is not set: refusing inbound email until it is")
        return False
    expected = settings.sendgrid_inbound_secret.encode()
    auth = request.authorization
    offered = [request.args.get("key", ""), (auth.password or "") if auth else ""]
    matches = [hmac.compare_digest(value.encode(), expected) for value in offered]
    return bool(expected) and any(matches)


def _envelope(text: str) -> dict:
    try:
        envelope = json.loads(text) if text else {}
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        log.warning("Inbound Parse envelope unreadable; ignored")
        return {}
    return envelope


def _sender(from_field: str, envelope: dict) -> str:
    """The owner's address, lowercased: the From header, else the SMTP envelope's sender."""
    candidates = [parseaddr(from_field)[1].strip().lower(), str(envelope.get("from") or "").strip().lower()]
    usable = next((address for address in candidates if _ADDRESS.match(address)), candidates[0])
    return Sender().load({"from": usable})["address"]


def _reply_address(to: str, cc: str, envelope: dict) -> tuple[str | None, str | None]:
    """The tokenised Reply-To the owner answered (and its owner), else the first address written to."""
    envelope_to = envelope.get("to")
    listed = [to, cc, *(str(a) for a in envelope_to)] if isinstance(envelope_to, list) else [to, cc]
    addresses = [address for _, address in getaddresses(listed) if address]
    secret = current_app.config["SETTINGS"].secret_key
    for address in addresses:
        route = read_reply_address(secret, address)
        if route is not None:
            return address, route.owner_id
    return (addresses[0][:320] if addresses else None), None


def _provider_message_id(headers: Message, sender: str, subject: str, text: str) -> str:
    """The Message-ID, or a hash standing for it (too long to store, or missing)."""
    message_id = " ".join(str(headers.get("Message-ID") or "").split())
    if message_id and len(message_id) <= MAX_PROVIDER_MESSAGE_ID:
        return message_id
    basis = message_id or "\n".join((sender, subject, text))
    return "sha256:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


def _automatic(headers: Message) -> bool:
    """An auto-reply or delivery report (RFC 3834): answering it could start a mail loop."""
    submitted = str(headers.get("Auto-Submitted") or "no").strip().lower()
    precedence = str(headers.get("Precedence") or "").strip().lower()
    content_type = str(headers.get("Content-Type") or "").lower()
    return (submitted != "no" or precedence in {"auto_reply", "bulk", "junk", "list"}
            or "X-Autoreply" in headers or "X-Autorespond" in headers or "multipart/report" in content_type)


def _message(form: InboundForm) -> tuple[dict[str, str], Message]:
    """The fields as text, and the headers; from the full MIME message if SendGrid posts it raw."""
    charsets = form.charsets()
    texts = {name: form.text(name, charsets) for name in ("from", "to", "cc", "subject", "text", "html",
                                                          "headers", "envelope")}
    raw = form.fields.get("email")
    if raw is not None and not (texts["text"] or texts["html"]):
        # "POST the raw, full MIME message": the email package decodes its parts and charsets.
        mime = message_from_bytes(bytes(raw), policy=policy.default)
        for name, preference in (("text", ("plain",)), ("html", ("html",))):
            part = mime.get_body(preferencelist=preference)
            texts[name] = _content(part) if part is not None else ""
        texts["subject"] = texts["subject"] or str(mime.get("Subject") or "")
        return texts, mime
    return texts, HeaderParser(policy=policy.compat32).parsestr(texts["headers"])


def _content(part) -> str:
    try:
        return part.get_content()
    except (LookupError, ValueError):  # an unknown charset: keep what UTF-8 can make of it
        return part.get_payload(decode=True).decode("utf-8", "replace")


@bp.post("/inbound")
def sendgrid_inbound():
    if not _authorised():
        log.warning("Inbound Parse post refused: wrong or missing secret")
        return error_response(403, "Not authorised.")
    # Before anything reads the body: this route takes whole emails, far above the app's limit.
    request.max_content_length = current_app.config.get("SENDGRID_INBOUND_MAX_CONTENT_LENGTH", MAX_INBOUND_BYTES)
    try:
        form = read_form(request.stream, request.headers.get("Content-Type", ""))
    except MalformedForm as exc:
        return error_response(400, str(exc))
    texts, headers = _message(form)
    envelope = _envelope(texts["envelope"])
    try:
        sender = _sender(texts["from"], envelope)
    except ValidationError as exc:
        return error_response(400, "No sender address.", exc.messages)
    if _automatic(headers):
        log.info("automatic email (auto-reply or delivery report) ignored")
        return Response(status=200)
    return _accept(form, texts, headers, envelope, sender)


def _accept(form: InboundForm, texts: dict[str, str], headers: Message, envelope: dict, sender: str):
    recipient, owner_id = _reply_address(texts["to"], texts["cc"], envelope)
    if owner_id is None:
        log.info("email reply without a reply token; cases will match the sender's address")
    else:
        log.info("email reply matched by its reply address", extra={"owner_id": owner_id})
    if form.truncated:
        log.warning("Inbound Parse fields cut to size", extra={"fields": sorted(form.truncated)})
    body = new_text(texts["text"] or html_text(texts["html"]))[:MAX_BODY_CHARS]
    received_at = now()
    provider_message_id = _provider_message_id(headers, sender, texts["subject"], texts["text"] or texts["html"])

    def read(connection):
        event = new_event("owner.replied", {
            "channel": "email", "sender": sender, "recipient": recipient, "body": body,
            "provider_message_id": provider_message_id, "received_at": received_at,
            **_understood(connection, body, received_at, "email", sender),
        })
        if event.payload.get("intent") not in ("opt_out", "opt_in"):
            return (event,)
        return (event, new_event("suppression.changed", {
            "channel": "email", "address": sender, "opted_out": event.payload["intent"] == "opt_out",
            "source": "reply",
        }))

    engine = current_app.extensions["gateway.db"]
    failure = stored_or_503(lambda: accept_read(engine, f"sendgrid-inbound:{provider_message_id}", read))
    return failure or Response(status=200)
