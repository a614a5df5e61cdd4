"""Collection groups of a community, and their members.

Staff see the groups of their own communities; a manager creates groups and sets their members.
Another community's group looks missing (404); creating one there is forbidden (403).
"""
from __future__ import annotations

from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from services.cases import people
from services.cases.api.common import engine, require_community
from services.cases.api.lookups import community_or_404
from shared.auth import require_staff
from shared.schemas import StrictSchema

blp = Blueprint("groups", __name__, url_prefix="/api/v1", description="Collection groups")
STAFF_IDS = fields.List(fields.Str(validate=validate.Length(min=1, max=36)), validate=validate.Length(max=200))


class GroupIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.Str(required=True, validate=validate.OneOf(people.GROUP_KINDS))
    leader_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=36))
    members = STAFF_IDS


class MembersIn(StrictSchema):
    staff_ids = fields.List(fields.Str(validate=validate.Length(min=1, max=36)), required=True,
                            validate=validate.Length(max=200))
    leader_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=36))


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


def _group_out(connection, community: str, group_id: str) -> dict:
    return next(group for group in people.groups_of(connection, community) if group["id"] == group_id)


@blp.post("/communities/<community_id>/groups")
@require_staff("manager")
@blp.arguments(GroupIn)
@blp.response(201, GroupOut)
def create_group(body, community_id: str):
    require_community(community_id, missing_status=403)
    with engine().begin() as connection:
        community_or_404(connection, community_id)
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
        community_or_404(connection, community_id)
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
