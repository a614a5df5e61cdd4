"""Staff tasks: work the system cannot do itself (re-verify an unreachable owner, offer instalments)."""
from __future__ import annotations

from datetime import UTC, datetime

from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select, update

from services.cases.api.common import engine, page_of, require_community, visible_communities
from services.cases.tables import staff_tasks
from shared.auth import require_staff
from shared.schemas import StrictSchema, page_field

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Staff tasks")
KINDS = ("reverify_contacts", "offer_instalments", "verify_payment")


class TaskFilter(StrictSchema):
    page = page_field()
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))
    status = fields.Str(load_default="open", validate=validate.OneOf(("open", "done")))
    kind = fields.Str(load_default=None, validate=validate.OneOf(KINDS))
    community = fields.Str(load_default=None)


class TaskOut(Schema):
    id = fields.Str()
    kind = fields.Str()
    community = fields.Str()
    owner_id = fields.Str(allow_none=True)
    case_id = fields.Str(allow_none=True)
    status = fields.Str()
    created_at = fields.DateTime()
    done_at = fields.DateTime(allow_none=True)


class TaskPage(Schema):
    items = fields.List(fields.Nested(TaskOut))
    page = fields.Int()
    per_page = fields.Int()
    total = fields.Int()


@blp.get("")
@require_staff()
@blp.arguments(TaskFilter, location="query")
@blp.response(200, TaskPage)
def list_tasks(args):
    """Open tasks first by age: the oldest waiting longest."""
    conditions = [staff_tasks.c.status == args["status"]]
    visible = visible_communities()
    if visible is not None:
        conditions.append(staff_tasks.c.community.in_(visible))
    for name in ("kind", "community"):
        if args.get(name):
            conditions.append(staff_tasks.c[name] == args[name])
    with engine().connect() as connection:
        total = connection.execute(select(func.count()).select_from(staff_tasks).where(*conditions)).scalar_one()
        rows = connection.execute(
            select(staff_tasks).where(*conditions).order_by(staff_tasks.c.created_at, staff_tasks.c.id)
            .limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])
        ).mappings().all()
    return page_of(rows, total, args)


@blp.post("/<task_id>/done")
@require_staff("collector", "supervisor", "manager")
@blp.response(200, TaskOut)
def finish_task(task_id: str):
    with engine().begin() as connection:
        row = connection.execute(select(staff_tasks).where(staff_tasks.c.id == task_id)).first()
        if row is None:
            abort(404, message="No such task.")
        require_community(row.community, message="No such task.")
        if row.status == "done":
            abort(409, message="The task is already done.")
        connection.execute(update(staff_tasks).where(staff_tasks.c.id == task_id)
                           .values(status="done", done_at=datetime.now(UTC)))
        return connection.execute(select(staff_tasks).where(staff_tasks.c.id == task_id)).mappings().one()
