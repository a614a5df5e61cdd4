"""Owner issues (complaints): one queue for every channel, with deadlines the manager can see."""
from __future__ import annotations

from flask import g
from flask_smorest import Blueprint, abort
from sqlalchemy import func, select

from services.cases import owner_issue, people
from services.cases.api.common import (
    community_today,
    engine,
    now,
    page_of,
    require_community,
    visible_communities,
)
from services.cases.schemas import IssueFilter, IssueIn, IssueOut, IssuePage, IssueStatusIn
from services.cases.tables import cases, owner_issues
from shared.auth import require_staff

blp = Blueprint("issues", __name__, url_prefix="/api/v1/issues", description="Owner issues (complaints)")


def _issue_or_404(connection, issue_id: str):
    row = connection.execute(select(owner_issues).where(owner_issues.c.id == issue_id)).mappings().first()
    if row is None:
        abort(404, message="No such issue.")
    require_community(row["community"], message="No such issue.")
    return row


@blp.post("")
@require_staff("collector", "supervisor", "manager")
@blp.arguments(IssueIn)
@blp.response(201, IssueOut)
def open_issue(body):
    """Log an issue an owner raised at the desk or by phone."""
    with engine().begin() as connection:
        case = connection.execute(select(cases).where(cases.c.id == body["case_id"])).first()
        if case is None or not g.staff.can_see(case.community):
            abort(422, message="No such case.", errors={"json": {"case_id": ["No such case."]}})
        assignee = body.get("assignee_id")
        if assignee and not people.working_in(connection, case.community, [assignee], active_only=True):
            abort(422, message="The assignee is not active staff of the case's community.",
                  errors={"json": {"assignee_id": ["Not active staff of the case's community."]}})
        issue_id = owner_issue.open_issue(
            connection, owner_id=case.owner_id, community=case.community, case_id=case.id,
            category=body["category"], description=body["description"], source="staff",
            actor=g.staff.sub, assignee_id=body.get("assignee_id"), now=now(),
        )
        return _issue_or_404(connection, issue_id)


@blp.get("")
@require_staff()
@blp.arguments(IssueFilter, location="query")
@blp.response(200, IssuePage)
def list_issues(args):
    """The issue queue, most urgent deadline first."""
    conditions = []
    visible = visible_communities()
    if visible is not None:
        conditions.append(owner_issues.c.community.in_(visible))
    for name in ("status", "category", "community"):
        if args.get(name):
            conditions.append(owner_issues.c[name] == args[name])
    if args.get("breached") is not None:
        conditions.append(owner_issues.c.breached_at.isnot(None) if args["breached"]
                          else owner_issues.c.breached_at.is_(None))
    with engine().connect() as connection:
        total = connection.execute(select(func.count()).select_from(owner_issues).where(*conditions)).scalar_one()
        rows = connection.execute(
            select(owner_issues).where(*conditions).order_by(owner_issues.c.deadline_at, owner_issues.c.id)
            .limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])
        ).mappings().all()
    return page_of(rows, total, args)


@blp.get("/<issue_id>")
@require_staff()
@blp.response(200, IssueOut)
def show_issue(issue_id: str):
    with engine().connect() as connection:
        return _issue_or_404(connection, issue_id)


@blp.post("/<issue_id>/status")
@require_staff("collector", "supervisor", "manager")
@blp.arguments(IssueStatusIn)
@blp.response(200, IssueOut)
def change_status(body, issue_id: str):
    """Move an issue on; resolving it tells the owner and resumes their case after a grace period."""
    with engine().begin() as connection:
        issue = _issue_or_404(connection, issue_id)
        try:
            owner_issue.change_status(connection, issue_id, body["status"], g.staff.sub, body.get("note"),
                                      community_today(connection, issue["community"]), now())
        except owner_issue.IssueRefused as exc:
            abort(409, message=str(exc))
        return _issue_or_404(connection, issue_id)
