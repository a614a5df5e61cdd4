"""Who works which case: sharing a community's open cases out, and handing one on by name.

Another community's case looks missing (404); auto-assigning another community is forbidden (403).
"""
from __future__ import annotations

from flask import g
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from services.cases import people
from services.cases.api.common import community_today, engine, now, require_community
from services.cases.api.lookups import case_or_404, community_or_404
from shared.auth import require_staff
from shared.schemas import StrictSchema

blp = Blueprint("assignments", __name__, url_prefix="/api/v1", description="Case assignment")


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


@blp.post("/assignments/auto")
@require_staff("manager")
@blp.arguments(AutoAssignIn)
@blp.response(200, AutoAssignOut)
def auto_assign(body):
    """Give every open, unassigned case of a community to its group's least-loaded member."""
    require_community(body["community"], missing_status=403)
    with engine().begin() as connection:
        community_or_404(connection, body["community"])
        result = people.auto_assign(connection, body["community"],
                                    community_today(connection, body["community"]), g.staff.sub, now())
    return {"assigned": result.total, "by_group": result.assigned, "unrouted": result.unrouted}


@blp.post("/cases/<case_id>/assignment")
@require_staff("supervisor", "manager")
@blp.arguments(ReassignIn)
@blp.response(200, AssignmentOut)
def reassign(body, case_id: str):
    """Hand a case to someone by name; the previous holder's assignment ends."""
    with engine().begin() as connection:
        case_or_404(connection, case_id)
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
        case_or_404(connection, case_id)
        return people.assignment_history(connection, case_id)
