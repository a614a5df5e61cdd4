"""Collection progress, rankings, the stage funnel and the report every few days (3 by default).

Every report is for one community the caller works in (another community answers 404, like a
missing one). A collector sees their own row of the per-collector figures; supervisors and
managers see every collector. `?format=csv` returns the same figures for Excel.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Response, g
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from services.cases import reports
from services.cases.api.common import community_today, engine, now, require_community
from services.cases.api.report_csv import csv_response
from services.cases.api.report_schemas import (
    DailyOut,
    DayArgs,
    FunnelArgs,
    FunnelOut,
    PeriodicArgs,
    PeriodicOut,
    RankingArgs,
    RankingOut,
)
from shared.auth import require_staff

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Reports")
MAX_SPAN_DAYS = 366


def csv_too(schema) -> dict:
    """`?format=csv` answers the same figures as text/csv: documented beside the JSON."""
    content = {"application/json": {"schema": schema}, "text/csv": {"schema": {"type": "string"}}}
    return {"responses": {"200": {"description": "OK", "content": content}}}



def _community(connection, community_id: str) -> reports.Community:
    require_community(community_id, message="No such community.")
    found = reports.find_community(connection, community_id)
    if found is None:
        abort(404, message="No such community.")
    return found


def _visible(rows: list) -> list:
    """A collector sees their own row; everyone else sees every collector."""
    if g.staff.role != "collector":
        return rows
    return [r for r in rows if g.staff.sub in (r.collector.id, r.collector.username)]


def _check_period(since, until) -> None:
    if since > until:
        abort(422, message="`since` must not be after `until`.", errors={"since": ["After `until`."]})
    if (until - since).days >= MAX_SPAN_DAYS:
        abort(422, message=f"A funnel covers at most {MAX_SPAN_DAYS} days.",
              errors={"since": [f"At most {MAX_SPAN_DAYS} days before `until`."]})


def _collector_row(collector: reports.Collector, progress: reports.Progress, **more) -> dict:
    return {"staff_id": collector.id, "name": collector.name, **progress.__dict__, **more}


PROGRESS = ["recovered", "recovered_to_date", "arrears", "recovery_rate", "promises_kept", "promises_broken",
            "cases_closed"]


@blp.get("/reports/daily")
@require_staff()
@blp.arguments(DayArgs, location="query", unknown=RAISE)
@blp.response(200, DailyOut)
@blp.doc(**csv_too(DailyOut))
def daily(args):
    """Progress on one day: the community's, and each collector's."""
    with engine().connect() as connection:
        community = _community(connection, args["community"])
        day = args["date"] or community_today(connection, community.id)
        book = reports.load_book(connection, community, day, day)
    overall = reports.community_progress(book, day)
    collectors = [_collector_row(r.collector, r.progress)
                  for r in _visible(reports.collector_progress(book, day))]
    if args["format"] == "csv":
        header = ["scope", "staff_id", "name", *PROGRESS]
        rows = [["community", community.id, community.name, *(getattr(overall, k) for k in PROGRESS)]]
        rows += [["collector", *(r[k] for k in header[1:])] for r in collectors]
        return csv_response(community, f"daily-{community.id}-{day}.csv", (header, rows))
    return {"community": community.id, "date": day, "community_progress": overall, "collectors": collectors}


@blp.get("/reports/ranking")
@require_staff()
@blp.arguments(RankingArgs, location="query", unknown=RAISE)
@blp.response(200, RankingOut)
@blp.doc(**csv_too(RankingOut))
def ranking(args):
    """Collectors ranked by recovery rate, flagging those at the bottom `bottom` for `days` days running."""
    with engine().connect() as connection:
        community = _community(connection, args["community"])
        day = args["date"] or community_today(connection, community.id)
        book = reports.load_book(connection, community, day - timedelta(days=args["days"] - 1), day)
    standings = _visible(reports.ranking(book, day, args["bottom"], args["days"]))
    rows = [_collector_row(s.collector, s.progress, rank=s.rank, days_at_bottom=s.days_at_bottom,
                           flagged=s.flagged) for s in standings]
    if args["format"] == "csv":
        header = ["rank", "staff_id", "name", "recovery_rate", "recovered", "recovered_to_date", "arrears",
                  "days_at_bottom", "flagged"]
        return csv_response(community, f"ranking-{community.id}-{day}.csv",
                            (header, [[r[k] for k in header] for r in rows]))
    return {"community": community.id, "date": day, "bottom": args["bottom"], "days": args["days"],
            "collectors": rows}


STAGE_COLUMNS = ["stage", "reached", "paid_in_time", "still_counting", "conversion"]


@blp.get("/reports/funnel")
@require_staff()
@blp.arguments(FunnelArgs, location="query", unknown=RAISE)
@blp.response(200, FunnelOut)
@blp.doc(**csv_too(FunnelOut))
def funnel(args):
    """For each ladder stage: cases that reached it in the period, and the share paid within 30 days."""
    with engine().connect() as connection:
        community = _community(connection, args["community"])
        today = community_today(connection, community.id)
        until = args["until"] or today
        since = args["since"] or until - timedelta(days=29)
        _check_period(since, until)
        stages = reports.funnel(connection, community, since, until, today)
    if args["format"] == "csv":
        return csv_response(community, f"funnel-{community.id}-{since}-{until}.csv",
                            (STAGE_COLUMNS, [[getattr(s, k) for k in STAGE_COLUMNS] for s in stages]))
    return {"community": community.id, "since": since, "until": until, "as_of": today,
            "conversion_days": reports.CONVERSION_DAYS, "stages": stages}


@blp.get("/reports/periodic")
@require_staff()
@blp.arguments(PeriodicArgs, location="query", unknown=RAISE)
@blp.response(200, PeriodicOut)
@blp.doc(**csv_too(PeriodicOut))
def periodic(args):
    """The report for the meeting every few days (3 by default), each figure beside the period before."""
    with engine().connect() as connection:
        community = _community(connection, args["community"])
        today = community_today(connection, community.id)
        period = reports.period_ending(args["until"] or today, args["days"])
        report = reports.periodic_report(connection, community, period, today, now())
    if args["format"] == "csv":
        return _periodic_csv(community, report)
    return {
        "community": community.id,
        "period": {**report.period.__dict__, "days": report.period.days},
        "previous": {**report.previous.__dict__, "days": report.previous.days},
        "trend": [{"figure": t.figure, "current": _number(t.current), "previous": _number(t.previous),
                   "change": _number(t.change)} for t in report.trend],
        "issues_by_category": report.issues, "breached_deadlines": report.breached,
        "broken_promises": report.broken_promises, "funnel": report.funnel,
    }


def _number(value):
    return value if isinstance(value, int) else str(value)


def _periodic_csv(community: reports.Community, report: reports.PeriodicReport) -> Response:
    def table(header, items):
        return header, [[getattr(item, k) for k in header] for item in items]

    trend = ["figure", "current", "previous", "change"]
    return csv_response(
        community, f"report-{community.id}-{report.period.first}-{report.period.last}.csv",
        (trend, [[t.figure, t.current, t.previous, t.change] for t in report.trend]),
        table(["category", "opened", "resolved", "open_at_end"], report.issues),
        table(["issue_id", "case_id", "category", "assignee_id", "deadline_at", "resolved_at"], report.breached),
        table(["promise_id", "case_id", "promised_date", "amount", "broken_on"], report.broken_promises),
        table(STAGE_COLUMNS, report.funnel),
    )
