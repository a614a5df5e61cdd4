"""Check that a webhook really comes from the provider, against the URL it signed."""
from __future__ import annotations

from flask import Request
from twilio.request_validator import RequestValidator


def public_url(base: str, request: Request) -> str:
    """The URL the provider called, as seen from outside (behind any proxy)."""
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}{'?' + query if query else ''}"


def twilio_signature_valid(auth_token: str, base_url: str, request: Request) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    return RequestValidator(auth_token).validate(public_url(base_url, request), request.form, signature)
