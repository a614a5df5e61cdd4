"""Staff tokens: issued by cases, verified by any service with the shared secret.

A token is a signed, expiring claim `{sub, role, communities}`; no service needs another's
tables to check it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.web import error_response

ROLES = ("collector", "supervisor", "manager", "admin")
TOKEN_SALT = "staff-token"
TOKEN_MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class Staff:
    sub: str
    role: str
    communities: tuple[str, ...]

    def can_see(self, community: str) -> bool:
        return self.role == "admin" or community in self.communities


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=TOKEN_SALT)


def issue_token(secret: str, sub: str, role: str, communities: list[str] | tuple[str, ...] = ()) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    return _serializer(secret).dumps({"sub": sub, "role": role, "communities": list(communities)})


def read_token(secret: str, token: str, max_age: int = TOKEN_MAX_AGE) -> Staff | None:
    try:
        claims = _serializer(secret).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    return Staff(claims["sub"], claims["role"], tuple(claims.get("communities", ())))


def require_staff(*roles: str):
    """Decorate a view so it needs a valid bearer token (and one of `roles`, if given)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            staff = None
            if scheme.lower() == "bearer" and token:
                staff = read_token(current_app.config["SECRET_KEY"], token.strip())
            if staff is None:
                return error_response(401, "A valid staff token is required.")
            if roles and staff.role not in roles and staff.role != "admin":
                return error_response(403, "Your role may not do this.")
            g.staff = staff
            return view(*args, **kwargs)

        return guarded

    return decorate
