"""Check a SendGrid Event Webhook signature: ECDSA over the timestamp and the raw body, and recent."""
from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from shared.config import ConfigError

# A signed batch is refused outside this window, so a captured one cannot be replayed later;
# inside it, each event's sg_event_id deduplicates.
MAX_AGE = timedelta(minutes=10)
MAX_AHEAD = timedelta(minutes=5)  # clock skew between SendGrid and us
_TIMESTAMP = re.compile(r"[0-9]{1,10}")  # seconds; eleven digits is past the year 2286


def load_public_key(text: str) -> ec.EllipticCurvePublicKey | None:
    """The verification key SendGrid shows under Mail Settings (base64 DER, PEM armour allowed)."""
    body = "".join(line.strip() for line in (text or "").splitlines() if not line.startswith("-----"))
    if not body:
        return None
    try:
        key = EventWebhook().convert_public_key_to_ecdsa(body)
    except ValueError:
        raise ConfigError("SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("SENDGRID_WEBHOOK_PUBLIC_KEY must be SendGrid's ECDSA (EC) key")
    return key


def refusal(key: ec.EllipticCurvePublicKey | None, raw: bytes, signature: str, timestamp: str,
            now: datetime) -> str | None:
    """Why this request is not from SendGrid, or None if it is."""
    if key is None:
        return "no verification key configured"
    if not signature or not _TIMESTAMP.fullmatch(timestamp):
        return "signature or timestamp missing"
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if sent < now - MAX_AGE:
        return "timestamp too old"
    if sent > now + MAX_AHEAD:
        return "timestamp in the future"
    try:
        # EventWebhook re-encodes the payload as UTF-8, so a UTF-8 body round-trips byte for byte.
        valid = EventWebhook().verify_signature(raw.decode("utf-8"), signature, timestamp, key)
    except (UnicodeDecodeError, ValueError, binascii.Error):
        valid = False
    return None if valid else "bad signature"
