"""The staff inbox: owners' questions the FAQ (收费答客问) did not answer."""
from __future__ import annotations

from flask import g
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from services.cases import inbox
from services.cases.api.common import engine, now, page_of, require_community, visible_communities
from services.cases.tables import staff_inbox
from shared.auth import require_staff
from shared.schemas import StrictSchema, page_field

blp = Blueprint("inbox", __name__, url_prefix="/api/v1/inbox", description="Owners' unanswered questions")


class InboxFilter(StrictSchema):
    page = page_field()
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))
    status = fields.Str(load_default="open", validate=validate.OneOf(inbox.STATUSES))
    community = fields.Str(load_default=None)


class AnsweredIn(StrictSchema):
    note = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class InboxItemOut(Schema):
    id = fields.Str()
    community = fields.Str(allow_none=True)
    owner_id = fields.Str(allow_none=True)
    case_id = fields.Str(allow_none=True)
    channel = fields.Str()
    question = fields.Str()
    language = fields.Str(allow_none=True)
    status = fields.Str()
    received_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)
    answered_by = fields.Str(allow_none=True)
    note = fields.Str(allow_none=True)


class InboxPage(Schema):
    items = fields.List(fields.Nested(InboxItemOut))
    page = fields.Int()
    per_page = fields.Int()
    total = fields.Int()


@blp.get("")
@require_staff()
@blp.arguments(InboxFilter, location="query")
@blp.response(200, InboxPage)
def list_questions(args):
    """Questions waiting longest first (or answered ones, newest first)."""
    conditions = [staff_inbox.c.status == args["status"]]
    visible = visible_communities()
    if visible is not None:
        conditions.append(staff_inbox.c.community.in_(visible))
    if args.get("community"):
        conditions.append(staff_inbox.c.community == args["community"])
    order = (staff_inbox.c.received_at if args["status"] == "open" else staff_inbox.c.answered_at.desc(),
             staff_inbox.c.id)
    with engine().connect() as connection:
        total = connection.execute(select(func.count()).select_from(staff_inbox).where(*conditions)).scalar_one()
        rows = connection.execute(
            select(staff_inbox).where(*conditions).order_by(*order)
            .limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])
        ).mappings().all()
    return page_of(rows, total, args)


@blp.post("/<inbox_id>/answered")
@require_staff("collector", "supervisor", "manager")
@blp.arguments(AnsweredIn)
@blp.response(200, InboxItemOut)
def mark_answered(body, inbox_id: str):
    """Record that the owner's question has been answered (by phone, at the desk...), with an optional note."""
    with engine().begin() as connection:
        row = connection.execute(select(staff_inbox).where(staff_inbox.c.id == inbox_id)).first()
        if row is None or (row.community is None and g.staff.role != "admin"):
            abort(404, message="No such question.")
        if row.community is not None:
            require_community(row.community, message="No such question.")
        try:
            inbox.mark_answered(connection, inbox_id, g.staff.sub, body.get("note"), now())
        except inbox.AlreadyAnswered:
            abort(409, message="The question is already answered.")
        return connection.execute(select(staff_inbox).where(staff_inbox.c.id == inbox_id)).mappings().one()
