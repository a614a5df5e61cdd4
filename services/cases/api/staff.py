"""Staff, sign-in tokens, collection groups and case assignment.

Scope: an admin sees and changes everything; anyone else sees the staff, groups and cases of
their own communities. A manager appoints collectors and supervisors there (never managers or
admins). Another community's staff, group or case looks missing (404); naming another
community in a body is forbidden (403).
"""
from __future__ import annotations

from flask import current_app, g, url_for
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from werkzeug.exceptions import TooManyRequests

from services.cases import people
from services.cases.api.common import (
    PageArgs,
    community_today,
    engine,
    now,
    page_of,
    require_community,
    visible_communities,
)
from services.cases.tables import cases, communities
from shared.auth import ROLES, TOKEN_MAX_AGE, issue_token, require_staff
from shared.schemas import StrictSchema

blp = Blueprint("staff", __name__, url_prefix="/api/v1", description="Staff, groups and assignment")
COMMUNITY_LIST = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=200))
STAFF_IDS = fields.List(fields.Str(validate=validate.Length(min=1, max=36)), validate=validate.Length(max=200))
WRONG_CREDENTIALS = "Wrong username or password."


class TokenIn(StrictSchema):
    username = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=1024))


class TokenOut(Schema):
    token = fields.Str()
    expires_in = fields.Int()
    role = fields.Str()
    communities = fields.List(fields.Str())


class StaffIn(StrictSchema):
    username = fields.Str(required=True, validate=validate.Regexp(people.USERNAME_PATTERN))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    role = fields.Str(required=True, validate=validate.OneOf(ROLES))
    communities = COMMUNITY_LIST
    password = fields.Str(validate=validate.Length(min=10, max=1024))  # omitted: one is generated


class StaffPatch(StrictSchema):
    role = fields.Str(validate=validate.OneOf(ROLES))
    communities = COMMUNITY_LIST
    active = fields.Bool()

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Change at least one of role, communities, active.")


class StaffFilter(PageArgs):
    community = fields.Str()
    role = fields.Str(validate=validate.OneOf(ROLES))
    active = fields.Bool()


class StaffOut(Schema):
    id = fields.Str()
    username = fields.Str()
    name = fields.Str()
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


class GroupIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.Str(required=True, validate=validate.OneOf(people.GROUP_KINDS))
    leader_id = fields.Str(load_default=None, allow_none=True)
    members = STAFF_IDS


class MembersIn(StrictSchema):
    staff_ids = fields.List(fields.Str(validate=validate.Length(min=1, max=36)), required=True,
                            validate=validate.Length(max=200))
    leader_id = fields.Str(load_default=None, allow_none=True)


class MemberOut(Schema):
    id = fields.Str()
    username = fields.Str()
    name = fields.Str()
    active = fields.Bool()


class GroupOut(Schema):
    id = fields.Str()
    community = fields.Str()
    name = fields.Str()
    kind = fields.Str()
    leader_id = fields.Str(allow_none=True)
    members = fields.List(fields.Nested(MemberOut))


class AutoAssignIn(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class AutoAssignOut(Schema):
    assigned = fields.Int()
    by_group = fields.Dict(keys=fields.Str(), values=fields.Int())
    unrouted = fields.Dict(keys=fields.Str(), values=fields.Int())


class ReassignIn(StrictSchema):
    staff_id = fields.Str(required=True, validate=validate.Length(min=1, max=36))
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class AssignmentOut(Schema):
    id = fields.Int()
    case_id = fields.Str()
    staff_id = fields.Str(allow_none=True)
    username = fields.Str(allow_none=True)
    group_id = fields.Str(allow_none=True)
    group_kind = fields.Str(allow_none=True)
    amount_owed_at_assignment = fields.Decimal(as_string=True, places=2)
    assigned_by = fields.Str()
    reason = fields.Str()
    assigned_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)


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
    """Another staff member's communities, as far as the caller's own scope reaches."""
    scope = visible_communities()
    if scope is None or record["id"] == g.staff.sub:
        return record
    return {**record, "communities": [c for c in record["communities"] if c in scope]}


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
                body["username"], body["name"], body["role"], wanted, password), now())
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
@require_staff("manager")
@blp.arguments(StaffPatch)
@blp.response(200, StaffOut)
def change_staff(body, staff_id: str):
    """Change a role, communities or active flag; a manager's change reaches their communities only."""
    with engine().begin() as connection:
        target = _staff_or_404(connection, staff_id)
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
        people.update_staff(connection, staff_id, role=body.get("role"), communities=wanted,
                            active=body.get("active"))
        return _as_seen(people.staff_record(connection, staff_id))


def _community_or_404(connection, community: str) -> None:
    if connection.execute(select(communities.c.id).where(communities.c.id == community)).first() is None:
        abort(404, message="No such community.")


def _group_out(connection, community: str, group_id: str) -> dict:
    return next(group for group in people.groups_of(connection, community) if group["id"] == group_id)


@blp.post("/communities/<community_id>/groups")
@require_staff("manager")
@blp.arguments(GroupIn)
@blp.response(201, GroupOut)
def create_group(body, community_id: str):
    require_community(community_id, missing_status=403)
    with engine().begin() as connection:
        _community_or_404(connection, community_id)
        try:
            group_id = people.create_group(connection, community_id, body["name"], body["kind"],
                                           body["leader_id"], body.get("members", ()))
        except people.GroupNameTaken as exc:
            abort(409, message=str(exc))
        except people.NotInCommunity as exc:
            abort(422, message=str(exc), errors={"members": exc.staff_ids})
        return _group_out(connection, community_id, group_id)


@blp.get("/communities/<community_id>/groups")
@require_staff()
@blp.response(200, GroupOut(many=True))
def list_groups(community_id: str):
    require_community(community_id, message="No such community.")
    with engine().connect() as connection:
        _community_or_404(connection, community_id)
        return people.groups_of(connection, community_id)


@blp.put("/groups/<group_id>/members")
@require_staff("manager")
@blp.arguments(MembersIn)
@blp.response(200, GroupOut)
def put_members(body, group_id: str):
    """Replace a group's members (and, if given, its leader)."""
    with engine().begin() as connection:
        group = people.group_row(connection, group_id)
        if group is None:
            abort(404, message="No such group.")
        require_community(group.community, message="No such group.")
        try:
            people.set_members(connection, group_id, body["staff_ids"], body["leader_id"])
        except people.NotInCommunity as exc:
            abort(422, message=str(exc), errors={"staff_ids": exc.staff_ids})
        return _group_out(connection, group.community, group_id)


@blp.post("/assignments/auto")
@require_staff("manager")
@blp.arguments(AutoAssignIn)
@blp.response(200, AutoAssignOut)
def auto_assign(body):
    """Give every open, unassigned case of a community to its group's least-loaded member."""
    require_community(body["community"], missing_status=403)
    with engine().begin() as connection:
        _community_or_404(connection, body["community"])
        result = people.auto_assign(connection, body["community"],
                                    community_today(connection, body["community"]), g.staff.sub, now())
    return {"assigned": result.total, "by_group": result.assigned, "unrouted": result.unrouted}


def _case_or_404(connection, case_id: str):
    row = connection.execute(select(cases.c.id, cases.c.community).where(cases.c.id == case_id)).first()
    if row is None:
        abort(404, message="No such case.")
    require_community(row.community, message="No such case.")
    return row


@blp.post("/cases/<case_id>/assignment")
@require_staff("supervisor", "manager")
@blp.arguments(ReassignIn)
@blp.response(200, AssignmentOut)
def reassign(body, case_id: str):
    """Hand a case to someone by name; the previous holder's assignment ends."""
    with engine().begin() as connection:
        _case_or_404(connection, case_id)
        try:
            people.reassign(connection, case_id, body["staff_id"], g.staff.sub, body["reason"], now())
        except people.NotInCommunity:
            abort(422, message="Not active staff of the case's community.",
                  errors={"staff_id": ["Not active staff of the case's community."]})
        except people.CaseClosed as exc:
            abort(409, message=str(exc))
        return people.assignment_history(connection, case_id)[-1]


@blp.get("/cases/<case_id>/assignments")
@require_staff()
@blp.response(200, AssignmentOut(many=True))
def assignment_history(case_id: str):
    """Everyone who has held the case, oldest first."""
    with engine().connect() as connection:
        _case_or_404(connection, case_id)
        return people.assignment_history(connection, case_id)
