"""Tokenised Reply-To addresses: an owner's email reply finds its way back to the owner.

The notifier sends email with Reply-To `reply+<token>@<REPLY_DOMAIN>`; SendGrid Inbound Parse
posts the reply to the gateway, which reads the token back. The token is signed (the shared
SECRET_KEY), carries only ids (no personal data) and does not expire: owners reply late.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "reply-address"
_ADDRESS = re.compile(r"reply\+([A-Za-z0-9_\-\.]+)@", re.IGNORECASE)


@dataclass(frozen=True)
class ReplyRoute:
    owner_id: str
    notification_id: str


def reply_address(secret: str, domain: str, route: ReplyRoute) -> str:
    token = URLSafeSerializer(secret, salt=SALT).dumps([route.owner_id, route.notification_id])
    return f"reply+{token}@{domain}"


def read_reply_address(secret: str, address: str) -> ReplyRoute | None:
    """The route in a Reply-To/To address we issued, or None if it is not ours or was altered."""
    match = _ADDRESS.search(address or "")
    if match is None:
        return None
    try:
        owner_id, notification_id = URLSafeSerializer(secret, salt=SALT).loads(match.group(1))
    except (BadSignature, ValueError, TypeError):
        return None
    return ReplyRoute(str(owner_id), str(notification_id))
