"""The owner's personal reply-form link, printed on the follow-up letter (律师函后函).

`{GATEWAY_PUBLIC_URL}/r/<token>`: the token is signed with the shared SECRET_KEY, carries only
ids (owner and case, no personal data) and expires, since a letter lies around for weeks.
The notifier makes the link; the gateway reads it back when the owner opens the form.
"""
from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "reply-form"
MAX_AGE_SECONDS = 60 * 24 * 3600  # 60 days: time to receive the letter, think and answer


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_reply_form_token(secret: str, owner_id: str, case_id: str) -> str:
    return _serializer(secret).dumps({"owner_id": owner_id, "case_id": case_id})


def make_reply_form_link(secret: str, base_url: str, owner_id: str, case_id: str) -> str:
    return f"{base_url.rstrip('/')}/r/{make_reply_form_token(secret, owner_id, case_id)}"


def read_reply_form_token(secret: str, token: str, max_age: int = MAX_AGE_SECONDS) -> tuple[str, str] | None:
    """(owner_id, case_id) from a token we issued, or None if it was altered or has expired."""
    try:
        claims = _serializer(secret).loads(token, max_age=max_age)
        return str(claims["owner_id"]), str(claims["case_id"])
    except (BadSignature, KeyError, TypeError):  # SignatureExpired is a BadSignature
        return None
