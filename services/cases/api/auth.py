"""Sign-in: a username and password traded for a staff token."""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import TooManyRequests

from services.cases import people
from services.cases.api.common import engine
from shared.auth import TOKEN_MAX_AGE, issue_token
from shared.schemas import StrictSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in tokens")
WRONG_CREDENTIALS = "Wrong username or password."


class TokenIn(StrictSchema):
    username = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=1024))


class TokenOut(Schema):
    token = fields.Str()
    expires_in = fields.Int()
    role = fields.Str()
    communities = fields.List(fields.Str())


def _failed_sign_ins() -> people.FailedSignIns:
    """This process's count of failed sign-ins (see people.FailedSignIns for what that limits)."""
    failures = current_app.extensions.get("cases.failed_sign_ins")
    if failures is None:
        failures = current_app.extensions.setdefault("cases.failed_sign_ins", people.FailedSignIns())
    return failures


@blp.post("/auth/token")
@blp.arguments(TokenIn)
@blp.response(200, TokenOut)
def sign_in(body):
    """Trade a username and password for a staff token (5 failures in 15 minutes lock the username)."""
    username, failures = people.normalise_username(body["username"]), _failed_sign_ins()
    wait = failures.locked_for(username)
    if wait:
        raise TooManyRequests("Too many failed sign-ins; try again later.", retry_after=int(wait) + 1)
    with engine().connect() as connection:
        signed_in = people.sign_in(connection, username, body["password"])
    if signed_in is None:
        failures.failed(username)
        abort(401, message=WRONG_CREDENTIALS)
    failures.succeeded(username)
    token = issue_token(current_app.config["SECRET_KEY"], signed_in.staff_id, signed_in.role,
                        signed_in.communities)
    return {"token": token, "expires_in": TOKEN_MAX_AGE, "role": signed_in.role,
            "communities": list(signed_in.communities)}
