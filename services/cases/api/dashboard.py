"""The managers' dashboard data in one call, and emailing a report to a community's managers."""
from __future__ import annotations

from flask import current_app, g
from flask_smorest import Blueprint, abort
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from services.cases import report_mail, reports
from services.cases.api.campaigns import CampaignProgressOut
from services.cases.api.common import community_today, engine, now, require_community, visible_communities
from services.cases.api.report_schemas import BrokenPromiseOut, Money, ProgressOut, StageOut, StandingOut
from services.cases.dashboard.overview import gather
from services.cases.tables import communities
from shared.auth import require_staff
from shared.schemas import StrictSchema

blp = Blueprint("dashboard", __name__, url_prefix="/api/v1", description="Managers' dashboard")


class DashboardArgs(StrictSchema):
    community = fields.Str(load_default=None, validate=validate.Length(min=1, max=64),
                           metadata={"description": "Default: the first of the caller's communities."})


class BoardCommunityOut(Schema):
    id = fields.Str()
    name = fields.Str()
    locale = fields.Str()
    timezone = fields.Str()


class BoardDayRecoveredOut(Schema):
    date = fields.Date()
    recovered = Money


class BoardMonthOut(Schema):
    first = fields.Date()
    recovered = Money
    days = fields.List(fields.Nested(BoardDayRecoveredOut))


class BoardCampaignOut(Schema):
    id = fields.Str()
    name = fields.Str()
    starts_on = fields.Date()
    ends_on = fields.Date()
    progress = fields.Nested(CampaignProgressOut)


class BoardRankingOut(Schema):
    bottom = fields.Int()
    days = fields.Int()
    collectors = fields.List(fields.Nested(StandingOut))


class BoardFunnelOut(Schema):
    since = fields.Date()
    until = fields.Date()
    conversion_days = fields.Int()
    stages = fields.List(fields.Nested(StageOut))


class BoardCategoryOut(Schema):
    category = fields.Str()
    open = fields.Int()
    breached = fields.Int()


class BoardLateIssueOut(Schema):
    id = fields.Str()
    case_id = fields.Str(allow_none=True)
    category = fields.Str()
    assignee_id = fields.Str(allow_none=True)
    deadline_at = fields.DateTime()
    status = fields.Str()


class BoardIssuesOut(Schema):
    by_category = fields.List(fields.Nested(BoardCategoryOut))
    open = fields.Int()
    breached_total = fields.Int()
    breached = fields.List(fields.Nested(BoardLateIssueOut))


class BoardDuePromiseOut(Schema):
    promise_id = fields.Str()
    case_id = fields.Str()
    promised_date = fields.Date()
    amount = Money


class BoardPromisesOut(Schema):
    due_today = fields.List(fields.Nested(BoardDuePromiseOut))
    due_today_total = fields.Int()
    broken_days = fields.Int()
    broken = fields.List(fields.Nested(BrokenPromiseOut))
    broken_total = fields.Int()


class BoardUnreachableOwnerOut(Schema):
    owner_id = fields.Str()
    name = fields.Str()
    case_id = fields.Str(allow_none=True)
    amount_owed = fields.Decimal(as_string=True, places=2, allow_none=True)


class BoardUnreachableOut(Schema):
    total = fields.Int()
    owners = fields.List(fields.Nested(BoardUnreachableOwnerOut))


class DashboardOut(Schema):
    communities = fields.List(fields.Nested(BoardCommunityOut), metadata={"description": "All the caller may pick."})
    community = fields.Nested(BoardCommunityOut)
    date = fields.Date()
    today = fields.Nested(ProgressOut)
    month = fields.Nested(BoardMonthOut)
    campaigns = fields.List(fields.Nested(BoardCampaignOut))
    ranking = fields.Nested(BoardRankingOut)
    funnel = fields.Nested(BoardFunnelOut)
    issues = fields.Nested(BoardIssuesOut)
    promises = fields.Nested(BoardPromisesOut)
    unreachable = fields.Nested(BoardUnreachableOut)


def _choices(connection) -> list[dict]:
    query = select(communities.c.id, communities.c.name, communities.c.locale, communities.c.timezone) \
        .order_by(communities.c.id)
    visible = visible_communities()
    if visible is not None:
        query = query.where(communities.c.id.in_(visible))
    return [dict(r) for r in connection.execute(query).mappings()]


@blp.get("/dashboard")
@require_staff()
@blp.arguments(DashboardArgs, location="query", unknown=RAISE)
@blp.response(200, DashboardOut)
def dashboard(args):
    """Everything the managers' dashboard shows for one of the caller's communities, in one call."""
    with engine().connect() as connection:
        choices = _choices(connection)
        wanted = args["community"] or (choices[0]["id"] if choices else None)
        if wanted is None:
            abort(404, message="No such community.")
        require_community(wanted, message="No such community.")
        community = reports.find_community(connection, wanted)
        if community is None:
            abort(404, message="No such community.")
        overview = gather(connection, community, community_today(connection, community.id), now(), g.staff)
    return {"communities": choices, **overview}


class ReportEmailIn(StrictSchema):
    kind = fields.Str(required=True, validate=validate.OneOf(report_mail.KINDS))
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class ReportEmailOut(Schema):
    report_id = fields.Str()
    kind = fields.Str()
    community = fields.Str()
    subject = fields.Str()
    recipients = fields.Int(metadata={"description": "How many addresses it goes to."})


@blp.post("/reports/email")
@require_staff("manager")
@blp.arguments(ReportEmailIn)
@blp.response(202, ReportEmailOut)
def email_report(body):
    """Email the 3-day report or the daily progress summary to the community's managers, now."""
    require_community(body["community"], missing_status=403)
    with engine().begin() as connection:
        community = reports.find_community(connection, body["community"])
        if community is None:
            abort(404, message="No such community.")
        try:
            sent = report_mail.send_now(connection, body["kind"], community,
                                        community_today(connection, community.id), now(),
                                        current_app.config["CASES_REPORT_MAIL"])
        except report_mail.NobodyToTell:
            abort(422, message="Nobody is set to receive this community's reports (no active manager with an "
                          "email, nothing in CASES_REPORT_RECIPIENTS).",
                  errors={"community": ["No manager email on record for this community."]})
    return {"report_id": sent.report_id, "kind": sent.kind, "community": community.id, "subject": sent.subject,
            "recipients": sent.recipients}
