"""Sign-in: a username and password traded for a short access token and a refresh token.

The access token (STAFF_TOKEN_MINUTES) is what every service checks, on its own; the refresh
token (STAFF_SESSION_HOURS, revocable) is how cases hands out the next one, built from the account
as it is then. Sign-out revokes the refresh token. people/sessions.py has the rules.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import TooManyRequests

from services.cases import people
from services.cases.api.common import engine, now
from shared.auth import issue_token, token_max_age
from shared.schemas import StrictSchema

log = logging.getLogger(__name__)
blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in tokens")
WRONG_CREDENTIALS = "Wrong username or password."
SESSION_ENDED = "This sign-in has ended; sign in again."
REFRESH_TOKEN = fields.Str(required=True, validate=validate.Length(min=1, max=200),
                           metadata={"description": "The refresh_token the sign-in returned."})


class TokenIn(StrictSchema):
    username = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=1024))


class RefreshIn(StrictSchema):
    refresh_token = REFRESH_TOKEN


class AccessOut(Schema):
    token = fields.Str(metadata={"description": "The access token: `Authorization: Bearer <token>` at every service."})
    expires_in = fields.Int(metadata={"description": "Seconds the access token is honoured (STAFF_TOKEN_MINUTES)."})
    role = fields.Str()
    communities = fields.List(fields.Str())


class TokenOut(AccessOut):
    refresh_token = fields.Str(metadata={"description": "Trades for new access tokens at /auth/refresh until it "
                                                        "expires or is revoked; keep it secret."})
    refresh_expires_in = fields.Int(metadata={"description": "Seconds until the refresh token expires."})


def failed_sign_ins() -> people.FailedSignIns:
    """This process's count of failed sign-ins (see people.FailedSignIns for what that limits)."""
    failures = current_app.extensions.get("cases.failed_sign_ins")
    if failures is None:
        failures = current_app.extensions.setdefault("cases.failed_sign_ins", people.FailedSignIns())
    return failures


def _access(signed_in: people.SignedIn) -> dict:
    token = issue_token(current_app.config["SECRET_KEY"], signed_in.staff_id, signed_in.role, signed_in.communities)
    return {"token": token, "expires_in": token_max_age(), "role": signed_in.role,
            "communities": list(signed_in.communities)}


def session_lifetime() -> timedelta:
    return timedelta(hours=getattr(current_app.config.get("SETTINGS"), "staff_session_hours", 12.0))


@blp.post("/auth/token")
@blp.arguments(TokenIn)
@blp.response(200, TokenOut)
def sign_in(body):
    """Trade a username and password for an access token and a refresh token (5 failures in 15 minutes
    lock the username)."""
    username, failures = people.normalise_username(body["username"]), failed_sign_ins()
    wait = failures.locked_for(username)
    if wait:
        raise TooManyRequests("Too many failed sign-ins; try again later.", retry_after=int(wait) + 1)
    with engine().begin() as connection:
        signed_in = people.sign_in(connection, username, body["password"])
        session = None if signed_in is None else people.sessions.open_session(
            connection, signed_in.staff_id, now(), session_lifetime())
    if signed_in is None:
        failures.failed(username)
        abort(401, message=WRONG_CREDENTIALS)
    failures.succeeded(username)
    return {**_access(signed_in), "refresh_token": session.refresh_token,
            "refresh_expires_in": int((session.expires_at - now()).total_seconds())}


@blp.post("/auth/refresh")
@blp.arguments(RefreshIn)
@blp.response(200, AccessOut)
def refresh(body):
    """A new access token for the refresh token's staff member, with their role and communities as they
    are now. 401 (one answer for every reason) when the sign-in was revoked or has expired, or the
    account is no longer active."""
    with engine().begin() as connection:
        signed_in = people.sessions.refresh(connection, body["refresh_token"], now())
    if signed_in is None:
        abort(401, message=SESSION_ENDED)
    return _access(signed_in)


@blp.post("/auth/sign-out")
@blp.arguments(RefreshIn)
@blp.response(204)
def sign_out(body):
    """End the sign-in this refresh token belongs to (its access tokens lapse within STAFF_TOKEN_MINUTES).
    Always 204: signing out twice, or with an unknown token, is no error."""
    with engine().begin() as connection:
        people.sessions.sign_out(connection, body["refresh_token"], now())
    return None
