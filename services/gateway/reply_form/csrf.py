"""A per-page CSRF token, signed and bound to the reply-form link it was served for.

The page carries no cookie and no session: the hidden field is signed with SECRET_KEY and names
the link's digest, so a post only passes with a field this gateway issued for that very link.
"""
from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "reply-form-csrf"
MAX_AGE_SECONDS = 24 * 3600  # a page left open overnight still posts; an older one is reloaded


def link_digest(token: str) -> str:
    """A stable name for a link that does not carry the link itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_csrf_token(secret: str, token: str) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT).dumps(link_digest(token))


def csrf_token_matches(secret: str, token: str, offered: str | None, max_age: int = MAX_AGE_SECONDS) -> bool:
    if not offered:
        return False
    try:
        bound = URLSafeTimedSerializer(secret, salt=SALT).loads(offered, max_age=max_age)
    except BadSignature:  # SignatureExpired included
        return False
    return isinstance(bound, str) and hmac.compare_digest(bound, link_digest(token))
