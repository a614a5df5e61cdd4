"""Staff tokens: issued by cases, verified by any service with the shared secret.

A token is a signed, expiring claim `{sub, role, communities}`; no service needs another's
tables to check it. It is short-lived (STAFF_TOKEN_MINUTES, 15 by default): what makes a change
to a staff account reach every service within minutes is that cases mints the next one, on
refresh, from the account as it is then (services/cases/people/sessions.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from shared.web import error_response

ROLES = ("collector", "supervisor", "manager", "admin")
TOKEN_SALT = "staff-token"
TOKEN_MAX_AGE = 15 * 60  # seconds; the default of STAFF_TOKEN_MINUTES


@dataclass(frozen=True)
class Staff:
    sub: str
    role: str
    communities: tuple[str, ...]

    def can_see(self, community: str) -> bool:
        return self.role == "admin" or community in self.communities


def _serializer(secret: str, at: float | None = None) -> URLSafeTimedSerializer:
    if at is None:
        return URLSafeTimedSerializer(secret, salt=TOKEN_SALT)

    class Clock(TimestampSigner):  # signs, or checks the age, as if it were `at` (Unix seconds)
        def get_timestamp(self) -> int:
            return int(at)

    return URLSafeTimedSerializer(secret, salt=TOKEN_SALT, signer=Clock)


def issue_token(secret: str, sub: str, role: str, communities: list[str] | tuple[str, ...] = (), *,
                issued_at: float | None = None) -> str:
    """A signed token for this staff member; `issued_at` (Unix seconds) backdates it, for tests."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    return _serializer(secret, issued_at).dumps({"sub": sub, "role": role, "communities": list(communities)})


def read_token(secret: str, token: str, max_age: int = TOKEN_MAX_AGE, *, now: float | None = None) -> Staff | None:
    """Who the token was issued to, or None if it is forged, malformed or older than `max_age` seconds."""
    try:
        claims = _serializer(secret, now).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    return Staff(claims["sub"], claims["role"], tuple(claims.get("communities", ())))


def token_max_age() -> int:
    """How old (seconds) a token this app honours may be: app.config['STAFF_TOKEN_MAX_AGE'] if set
    (tests), else the settings' STAFF_TOKEN_MINUTES."""
    config = current_app.config
    if config.get("STAFF_TOKEN_MAX_AGE") is not None:
        return int(config["STAFF_TOKEN_MAX_AGE"])
    minutes = getattr(config.get("SETTINGS"), "staff_token_minutes", None)
    return TOKEN_MAX_AGE if minutes is None else max(1, int(minutes * 60))


def require_staff(*roles: str):
    """Decorate a view so it needs a valid bearer token (and one of `roles`, if given)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            staff = None
            if scheme.lower() == "bearer" and token:
                staff = read_token(current_app.config["SECRET_KEY"], token.strip(), token_max_age())
            if staff is None:
                return error_response(401, "A valid staff token is required.")
            if roles and staff.role not in roles and staff.role != "admin":
                return error_response(403, "Your role may not do this.")
            g.staff = staff
            return view(*args, **kwargs)

        return guarded

    return decorate
