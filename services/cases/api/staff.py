"""Staff: appointing them, and changing their role, communities, active flag or email.

Scope: an admin sees and changes everything; anyone else sees the staff of their own
communities. A manager appoints collectors and supervisors there (never managers or admins).
Another community's staff member looks missing (404); naming another community in a body is
forbidden (403).

Email (optional; where a manager's emailed reports go): set by whoever may change the record, and
by each staff member for themselves (their own email and nothing else). Only the person, managers
and admins see it; a collector or supervisor sees colleagues without it. Stored lowercased; two
accounts may share an address (it is a mailbox, not a sign-in name; report recipients are
deduplicated).

Sign-ins (people/sessions.py): deactivating someone, or changing their role, communities or
password, revokes all their sessions in the same transaction, so their access tokens stop being
renewed and lapse within STAFF_TOKEN_MINUTES everywhere. `POST /staff/<id>/sign-out` does the same
without changing the account; `POST /staff/<id>/password` sets a new password. Both are for the
person themselves and for whoever may change their record (admins; a manager for the collectors and
supervisors of their communities). There is no audit table for staff changes: these are logged with
staff ids only, as email changes are.
"""
from __future__ import annotations

import logging

from flask import g, url_for
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.exceptions import TooManyRequests

from services.cases import people
from services.cases.api.auth import failed_sign_ins
from services.cases.api.common import PageArgs, engine, now, page_of, visible_communities
from services.cases.people import staff_accounts
from shared.auth import ROLES, require_staff
from shared.schemas import JsonBool, StrictSchema

log = logging.getLogger(__name__)
blp = Blueprint("staff", __name__, url_prefix="/api/v1", description="Staff")
EMAIL = fields.Email(allow_none=True, validate=validate.Length(max=320),
                     metadata={"description": "Where this person's emailed reports go (managers); null: none."})
MANAGING_ROLES = ("manager", "admin")
COMMUNITY_LIST = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=200))


class StaffIn(StrictSchema):
    username = fields.Str(required=True, validate=validate.Regexp(people.USERNAME_PATTERN))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    role = fields.Str(required=True, validate=validate.OneOf(ROLES))
    communities = COMMUNITY_LIST
    password = fields.Str(validate=validate.Length(min=10, max=1024))  # omitted: one is generated
    email = EMAIL


class StaffPatch(StrictSchema):
    role = fields.Str(validate=validate.OneOf(ROLES))
    communities = COMMUNITY_LIST
    active = JsonBool()
    email = EMAIL

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Change at least one of role, communities, active, email.")


class PasswordIn(StrictSchema):
    password = fields.Str(validate=validate.Length(min=10, max=1024),
                          metadata={"description": "The new password; omitted (not for your own): one is generated."})
    current_password = fields.Str(validate=validate.Length(min=1, max=1024),
                                  metadata={"description": "Your present password: needed to change your own."})


class PasswordOut(Schema):
    sessions_revoked = fields.Int(metadata={"description": "Sign-ins taken back (all of the person's)."})
    password = fields.Str(metadata={"description": "Only when generated; shown this once."})


class SignedOutEverywhere(Schema):
    sessions_revoked = fields.Int()


class StaffFilter(PageArgs):
    community = fields.Str()
    role = fields.Str(validate=validate.OneOf(ROLES))
    active = fields.Bool()


class StaffOut(Schema):
    id = fields.Str()
    username = fields.Str()
    name = fields.Str()
    email = fields.Str(allow_none=True, metadata={"description": "Shown to the person, managers and admins."})
    role = fields.Str()
    active = fields.Bool()
    communities = fields.List(fields.Str())
    created_at = fields.DateTime()


class StaffCreated(StaffOut):
    password = fields.Str(metadata={"description": "Only when generated; shown this once."})


class StaffPage(Schema):
    items = fields.List(fields.Nested(StaffOut))
    page = fields.Int()
    per_page = fields.Int()
    total = fields.Int()


def _appoint_check(role: str | None, wanted: tuple[str, ...] | None) -> None:
    """A manager appoints collectors and supervisors, in their own communities only."""
    if g.staff.role == "admin":
        return
    if role is not None and role not in people.MANAGER_MAY_APPOINT:
        abort(403, message="Only an admin appoints managers and admins.")
    if wanted is not None and not set(wanted) <= set(g.staff.communities):
        abort(403, message="Not your community.")


def _known_communities(connection, names) -> None:
    unknown = people.unknown_communities(connection, names)
    if unknown:
        abort(422, message="Unknown community.", errors={"communities": [f"Unknown: {', '.join(unknown)}"]})


def _as_seen(record: dict) -> dict:
    """Another staff member's communities, as far as the caller's own scope reaches; their email to
    managers and admins only."""
    scope = visible_communities()
    if scope is None or record["id"] == g.staff.sub:
        return record
    seen = {**record, "communities": [c for c in record["communities"] if c in scope]}
    if g.staff.role not in MANAGING_ROLES:
        seen.pop("email", None)
    return seen


def _staff_or_404(connection, staff_id: str) -> dict:
    record = people.staff_record(connection, staff_id)
    if record is None or not (g.staff.role == "admin" or record["id"] == g.staff.sub
                              or set(record["communities"]) & set(g.staff.communities)):
        abort(404, message="No such staff member.")
    return record


@blp.post("/staff")
@require_staff("manager")
@blp.arguments(StaffIn)
@blp.response(201, StaffCreated)
def create_staff(body):
    wanted = tuple(body.get("communities", ()))
    _appoint_check(body["role"], wanted)
    if body["role"] != "admin" and not wanted:
        abort(422, message="Staff other than admins need a community.",
              errors={"communities": ["Name at least one community."]})
    password = body.get("password") or people.new_password()
    with engine().begin() as connection:
        _known_communities(connection, wanted)
        try:
            staff_id = people.create_staff(connection, people.NewStaff(
                body["username"], body["name"], body["role"], wanted, password, body.get("email")), now())
        except people.UsernameTaken as exc:
            abort(409, message=str(exc))
        created = people.staff_record(connection, staff_id)
    if "password" not in body:
        created["password"] = password
    return created, 201, {"Location": url_for("staff.show_staff", staff_id=staff_id)}


@blp.get("/staff")
@require_staff()
@blp.arguments(StaffFilter, location="query")
@blp.response(200, StaffPage)
def list_staff(args):
    """Staff who share a community with you (everyone, for an admin)."""
    with engine().connect() as connection:
        items, total = people.staff_page(connection, visible_communities(), args)
    return page_of([_as_seen(item) for item in items], total, args)


@blp.get("/staff/<staff_id>")
@require_staff()
@blp.response(200, StaffOut)
def show_staff(staff_id: str):
    with engine().connect() as connection:
        return _as_seen(_staff_or_404(connection, staff_id))


@blp.patch("/staff/<staff_id>")
@require_staff()
@blp.arguments(StaffPatch)
@blp.response(200, StaffOut)
def change_staff(body, staff_id: str):
    """Change a role, communities, active flag or email (managers and admins; a manager's change reaches
    their communities only). Anyone may change their own email, and only that, about themselves."""
    own_email = staff_id == g.staff.sub and set(body) == {"email"}
    if not own_email and g.staff.role not in MANAGING_ROLES:
        abort(403, message="Your role may not do this.")
    with engine().begin() as connection:
        target = _staff_or_404(connection, staff_id)
        if not own_email:
            _appoint_check(target["role"], None)
        _appoint_check(body.get("role"), body.get("communities"))
        if staff_id == g.staff.sub and ("role" in body or body.get("active") is False):
            abort(403, message="You may not change your own role or deactivate yourself.")
        wanted = body.get("communities")
        if wanted is not None:
            _known_communities(connection, wanted)
            scope = visible_communities()
            # What lies outside the caller's scope is not theirs to take away.
            kept = () if scope is None else tuple(c for c in target["communities"] if c not in scope)
            wanted = tuple(wanted) + kept
        revoked = people.update_staff(connection, staff_id, role=body.get("role"), communities=wanted,
                                      active=body.get("active"), now=now())
        if revoked:
            log.info("staff sessions revoked", extra={"staff_id": staff_id, "by": g.staff.sub, "sessions": revoked})
        if "email" in body:
            staff_accounts.set_email(connection, staff_id, body["email"])
            log.info("staff email changed", extra={"staff_id": staff_id, "by": g.staff.sub,
                                                   "cleared": body["email"] is None})
        return _as_seen(people.staff_record(connection, staff_id))


def _may_manage_sign_ins(connection, staff_id: str) -> dict:
    """The staff member, if the caller is them or may change their record (else 404/403)."""
    target = _staff_or_404(connection, staff_id)
    if staff_id != g.staff.sub:
        if g.staff.role not in MANAGING_ROLES:
            abort(403, message="Your role may not do this.")
        _appoint_check(target["role"], None)
    return target


@blp.post("/staff/<staff_id>/sign-out")
@require_staff()
@blp.response(200, SignedOutEverywhere)
def sign_out_everywhere(staff_id: str):
    """Revoke every sign-in of this staff member: no more access tokens are handed out on them, and those
    already out lapse within STAFF_TOKEN_MINUTES. Yourself, or someone whose record you may change."""
    with engine().begin() as connection:
        _may_manage_sign_ins(connection, staff_id)
        revoked = people.sessions.revoke_all(connection, staff_id, now(), "signed_out_everywhere")
    log.info("staff signed out everywhere", extra={"staff_id": staff_id, "by": g.staff.sub, "sessions": revoked})
    return {"sessions_revoked": revoked}


@blp.post("/staff/<staff_id>/password")
@require_staff()
@blp.arguments(PasswordIn, required=False)  # no body: a reset with a generated password
@blp.response(200, PasswordOut)
def change_password(body, staff_id: str):
    """Set a new password and revoke every sign-in of this staff member. Your own: give `current_password`
    and `password` (a wrong current password counts as a failed sign-in). Someone whose record you may
    change: `password`, or nothing to have one generated (shown once)."""
    own = staff_id == g.staff.sub
    if own and ("password" not in body or "current_password" not in body):
        abort(422, message="Give your current password and the new one.",
              errors={name: ["Missing data for required field."] for name in ("password", "current_password")
                      if name not in body})
    password = body.get("password") or people.new_password()
    with engine().begin() as connection:
        target = _may_manage_sign_ins(connection, staff_id)
        if own:
            failures, username = failed_sign_ins(), target["username"]
            wait = failures.locked_for(username)
            if wait:
                raise TooManyRequests("Too many failed sign-ins; try again later.", retry_after=int(wait) + 1)
            if not people.password_matches(connection, staff_id, body["current_password"]):
                failures.failed(username)
                abort(422, message="The current password is wrong.",
                      errors={"current_password": ["Wrong password."]})
            failures.succeeded(username)
        revoked = people.set_password(connection, staff_id, password, now())
    log.info("staff password changed", extra={"staff_id": staff_id, "by": g.staff.sub, "sessions": revoked})
    return {"sessions_revoked": revoked, **({} if "password" in body else {"password": password})}
