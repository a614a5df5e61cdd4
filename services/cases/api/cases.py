"""Cases: open one by hand, list, read with its messages and replies, approve, promise."""
from __future__ import annotations

from datetime import timedelta

from flask import g, url_for
from flask_smorest import Blueprint, abort
from sqlalchemy import select

from services.cases import handlers, queries
from services.cases.api.common import (
    community_today,
    engine,
    page_of,
    require_community,
    visible_communities,
)
from services.cases.promise import PromiseRefused, record_promise
from services.cases.schemas import (
    ApprovalIn,
    CaseFilter,
    CaseOut,
    CasePage,
    OpenCaseIn,
    PromiseIn,
    PromiseOut,
)
from services.cases.tables import case_notes, cases
from shared.auth import require_staff

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="Collection cases")
# A promise pauses reminders until its date: one further off than a year stops collection, not delays it.
PROMISE_HORIZON_DAYS = 366


def _case_or_404(connection, case_id: str):
    row = connection.execute(select(cases).where(cases.c.id == case_id)).first()
    if row is None:
        abort(404, message="No such case.")
    require_community(row.community, message="No such case.")
    return row


@blp.post("")
@require_staff("collector", "supervisor", "manager")
@blp.arguments(OpenCaseIn)
@blp.response(201, CaseOut)
def open_case(command):
    require_community(command.community, missing_status=403)
    with engine().begin() as connection:
        try:
            case_id = handlers.open_case(connection, command, g.staff.sub,
                                         community_today(connection, command.community))
        except handlers.UnknownCommunity:
            abort(422, message="Unknown community.", errors={"json": {"community": ["Unknown community."]}})
        except ValueError as exc:
            abort(422, message=str(exc))
    with engine().connect() as connection:
        detail = queries.case_detail(connection, case_id)
    return detail, 201, {"Location": url_for("cases.show_case", case_id=case_id)}


@blp.get("/<case_id>")
@require_staff()
@blp.response(200, CaseOut)
def show_case(case_id: str):
    with engine().connect() as connection:
        _case_or_404(connection, case_id)
        return queries.case_detail(connection, case_id)


@blp.get("")
@require_staff()
@blp.arguments(CaseFilter, location="query")
@blp.response(200, CasePage)
def list_cases(args):
    with engine().connect() as connection:
        items, total = queries.case_page(connection, visible_communities(), args)
    return page_of(items, total, args)


@blp.post("/<case_id>/promises")
@require_staff("collector", "supervisor", "manager")
@blp.arguments(PromiseIn)
@blp.response(201, PromiseOut)
def add_promise(body, case_id: str):
    """Record a promise to pay agreed with the owner (by phone, at the desk)."""
    with engine().begin() as connection:
        case = _case_or_404(connection, case_id)
        today = community_today(connection, case.community)
        if body["promised_date"] > today + timedelta(days=PROMISE_HORIZON_DAYS):
            abort(422, message=f"A promise is for a day within {PROMISE_HORIZON_DAYS} days.",
                  errors={"promised_date": [f"At most {PROMISE_HORIZON_DAYS} days ahead."]})
        try:
            promise_id = record_promise(connection, case_id, body["promised_date"], body.get("amount"),
                                        "staff", today)
        except PromiseRefused as exc:
            abort(422, message=str(exc))
        return queries.promise(connection, promise_id)


@blp.post("/<case_id>/approval")
@require_staff("manager")
@blp.arguments(ApprovalIn)
@blp.response(200, CaseOut)
def approve_stage(body, case_id: str):
    """Let a case enter a stage that waits for a manager (e.g. a key owner's lawyer's letter)."""
    with engine().begin() as connection:
        case = _case_or_404(connection, case_id)
        if case.status != "open":
            abort(409, message="The case is closed.")
        connection.execute(cases.update().where(cases.c.id == case_id)
                           .values(approved_stage=body["stage"]))
        connection.execute(case_notes.insert().values(
            case_id=case_id, kind="approval", detail={"stage": body["stage"], "note": body.get("note")},
            actor=g.staff.sub, at=queries.utcnow(),
        ))
    with engine().connect() as connection:
        return queries.case_detail(connection, case_id)
