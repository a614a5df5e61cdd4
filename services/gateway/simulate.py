"""Play an owner texting us, signed the way Twilio signs, for demos and smoke checks."""
from __future__ import annotations

import urllib.parse
import urllib.request
import uuid

from twilio.request_validator import RequestValidator

from shared.config import Settings


def post_owner_reply(settings: Settings, sender: str, body: str) -> str:
    url = f"{settings.gateway_public_url}/webhooks/twilio/sms"
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": settings.twilio_account_sid,
        "From": sender, "To": settings.twilio_from, "Body": body, "NumMedia": "0",
    }
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(params).encode(), method="POST",
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return f"{response.status} {response.read().decode()}"
