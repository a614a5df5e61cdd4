"""Collection progress, rankings, the stage funnel, the 3-day report and case timelines.

Every report is for one community the caller works in (another community answers 404, like a
missing one). A collector sees their own row of the per-collector figures; supervisors and
managers see every collector. `?format=csv` returns the same figures for Excel.
"""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Response, g
from flask_smorest import Blueprint, abort
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from services.cases import reports, timeline
from services.cases.api.common import community_today, engine, now, require_community
from services.cases.tables import case_notes, cases
from shared.auth import require_staff
from shared.schemas import StrictSchema

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Reports")
FORMAT = fields.Str(load_default="json", validate=validate.OneOf(("json", "csv")))
Money = fields.Decimal(as_string=True, places=2)
Rate = fields.Decimal(as_string=True, places=4, allow_none=True)
MAX_SPAN_DAYS = 366


class DayArgs(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    date = fields.Date(load_default=None, metadata={"description": "Default: the community's today."})
    format = FORMAT


class RankingArgs(DayArgs):
    bottom = fields.Int(load_default=3, validate=validate.Range(min=1, max=50))
    days = fields.Int(load_default=3, validate=validate.Range(min=1, max=31))


class FunnelArgs(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    since = fields.Date(load_default=None, metadata={"description": "Default: 29 days before `until`."})
    until = fields.Date(load_default=None, metadata={"description": "Default: the community's today."})
    format = FORMAT


class PeriodicArgs(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    days = fields.Int(load_default=3, validate=validate.Range(min=1, max=92))
    until = fields.Date(load_default=None, metadata={"description": "Last day; default: the community's today."})
    format = FORMAT


class ProgressOut(Schema):
    recovered = Money
    recovered_to_date = Money
    arrears = Money
    recovery_rate = Rate
    promises_kept = fields.Int()
    promises_broken = fields.Int()
    cases_closed = fields.Int()


class CollectorProgressOut(ProgressOut):
    staff_id = fields.Str()
    name = fields.Str()


class DailyOut(Schema):
    community = fields.Str()
    date = fields.Date()
    community_progress = fields.Nested(ProgressOut)
    collectors = fields.List(fields.Nested(CollectorProgressOut))


class StandingOut(CollectorProgressOut):
    rank = fields.Int(allow_none=True)
    days_at_bottom = fields.Int()
    flagged = fields.Bool()


class RankingOut(Schema):
    community = fields.Str()
    date = fields.Date()
    bottom = fields.Int()
    days = fields.Int()
    collectors = fields.List(fields.Nested(StandingOut))


class StageOut(Schema):
    stage = fields.Str()
    reached = fields.Int()
    paid_in_time = fields.Int()
    still_counting = fields.Int()
    conversion = Rate


class FunnelOut(Schema):
    community = fields.Str()
    since = fields.Date()
    until = fields.Date()
    as_of = fields.Date()
    conversion_days = fields.Int()
    stages = fields.List(fields.Nested(StageOut))


class PeriodOut(Schema):
    first = fields.Date()
    last = fields.Date()
    days = fields.Int()


class TrendOut(Schema):
    figure = fields.Str()
    current = fields.Raw()
    previous = fields.Raw()
    change = fields.Raw()


class IssueCountOut(Schema):
    category = fields.Str()
    opened = fields.Int()
    resolved = fields.Int()
    open_at_end = fields.Int()


class BreachOut(Schema):
    issue_id = fields.Str()
    case_id = fields.Str(allow_none=True)
    category = fields.Str()
    assignee_id = fields.Str(allow_none=True)
    deadline_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class BrokenPromiseOut(Schema):
    promise_id = fields.Str()
    case_id = fields.Str()
    promised_date = fields.Date()
    amount = Money
    broken_on = fields.Date()


class PeriodicOut(Schema):
    community = fields.Str()
    period = fields.Nested(PeriodOut)
    previous = fields.Nested(PeriodOut)
    trend = fields.List(fields.Nested(TrendOut))
    issues_by_category = fields.List(fields.Nested(IssueCountOut))
    breached_deadlines = fields.List(fields.Nested(BreachOut))
    broken_promises = fields.List(fields.Nested(BrokenPromiseOut))
    funnel = fields.List(fields.Nested(StageOut))


class EntryOut(Schema):
    on = fields.Date()
    at = fields.DateTime(allow_none=True)
    kind = fields.Str()
    detail = fields.Dict()


class TimelineOut(Schema):
    case = fields.Dict()
    owner = fields.Dict()
    contacts = fields.List(fields.Dict())
    units = fields.List(fields.Dict())
    community = fields.Dict()
    entries = fields.List(fields.Nested(EntryOut))


# --- helpers ---------------------------------------------------------------------------------------

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


# Column headings and values of the CSV exports, in the community's language.
CSV_WORDS = {
    "zh-CN": {
        "scope": "范围", "community": "小区", "collector": "收费员", "staff_id": "员工编号", "name": "姓名",
        "recovered": "回收金额", "recovered_to_date": "累计回收金额", "arrears": "欠款基数",
        "recovery_rate": "回收率", "promises_kept": "承诺兑现", "promises_broken": "承诺未兑现",
        "cases_closed": "结案数", "rank": "排名", "days_at_bottom": "连续靠后天数", "flagged": "连续靠后",
        "stage": "阶段", "reached": "进入案件数", "paid_in_time": "30天内付清", "still_counting": "观察期内",
        "conversion": "转化率", "figure": "指标", "current": "本期", "previous": "上期",
        "change": "变化", "category": "类别", "opened": "新增", "resolved": "已解决", "open_at_end": "期末未解决",
        "issue_id": "问题编号", "case_id": "案件编号", "assignee_id": "负责人", "deadline_at": "处理期限",
        "resolved_at": "解决时间", "promise_id": "承诺编号", "promised_date": "承诺日期", "amount": "金额",
        "broken_on": "违约日期", "issues_opened": "新增问题", "issues_resolved": "解决问题",
        "deadlines_breached": "超期问题", "yes": "是", "no": "否",
        "reminder": "催费提醒", "notice": "催费函", "lawyer_letter": "律师函", "follow_up_letter": "律师函后函",
        "legal_review": "法务审查", "repairs": "维修", "leaks": "漏水", "cleaning": "保洁", "security": "安保",
        "parking": "停车", "lifts": "电梯", "noise": "噪音", "greenery": "绿化", "billing_dispute": "费用争议",
        "service_attitude": "服务态度", "other": "其他",
    },
}


def _csv(community: reports.Community, filename: str, *tables: tuple[list[str], list[list]]) -> Response:
    """A CSV file Excel opens as UTF-8 (it needs the BOM); several tables are separated by a blank row."""
    words = CSV_WORDS.get(community.locale, {})

    def shown(column: str, value):
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif column not in TRANSLATED or value is None:
            return "" if value is None else value
        return words.get(value, value)

    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for number, (header, rows) in enumerate(tables):
        if number:
            writer.writerow([])
        writer.writerow([words.get(h, h) for h in header])
        writer.writerows([[shown(column, v) for column, v in zip(header, row, strict=True)] for row in rows])
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


TRANSLATED = {"scope", "stage", "category", "figure"}  # columns whose values are words, not data
PROGRESS = ["recovered", "recovered_to_date", "arrears", "recovery_rate", "promises_kept", "promises_broken",
            "cases_closed"]


# --- endpoints ---------------------------------------------------------------------------------------

@blp.get("/reports/daily")
@require_staff()
@blp.arguments(DayArgs, location="query", unknown=RAISE)
@blp.response(200, DailyOut)
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
        return _csv(community, f"daily-{community.id}-{day}.csv", (header, rows))
    return {"community": community.id, "date": day, "community_progress": overall, "collectors": collectors}


@blp.get("/reports/ranking")
@require_staff()
@blp.arguments(RankingArgs, location="query", unknown=RAISE)
@blp.response(200, RankingOut)
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
        return _csv(community, f"ranking-{community.id}-{day}.csv",
                    (header, [[r[k] for k in header] for r in rows]))
    return {"community": community.id, "date": day, "bottom": args["bottom"], "days": args["days"],
            "collectors": rows}


STAGE_COLUMNS = ["stage", "reached", "paid_in_time", "still_counting", "conversion"]


@blp.get("/reports/funnel")
@require_staff()
@blp.arguments(FunnelArgs, location="query", unknown=RAISE)
@blp.response(200, FunnelOut)
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
        return _csv(community, f"funnel-{community.id}-{since}-{until}.csv",
                    (STAGE_COLUMNS, [[getattr(s, k) for k in STAGE_COLUMNS] for s in stages]))
    return {"community": community.id, "since": since, "until": until, "as_of": today,
            "conversion_days": reports.CONVERSION_DAYS, "stages": stages}


@blp.get("/reports/periodic")
@require_staff()
@blp.arguments(PeriodicArgs, location="query", unknown=RAISE)
@blp.response(200, PeriodicOut)
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
    return _csv(
        community, f"report-{community.id}-{report.period.first}-{report.period.last}.csv",
        (trend, [[t.figure, t.current, t.previous, t.change] for t in report.trend]),
        table(["category", "opened", "resolved", "open_at_end"], report.issues),
        table(["issue_id", "case_id", "category", "assignee_id", "deadline_at", "resolved_at"], report.breached),
        table(["promise_id", "case_id", "promised_date", "amount", "broken_on"], report.broken_promises),
        table(STAGE_COLUMNS, report.funnel),
    )


def _case_or_404(connection, case_id: str):
    row = connection.execute(select(cases.c.id, cases.c.community).where(cases.c.id == case_id)).first()
    if row is None:
        abort(404, message="No such case.")
    require_community(row.community, message="No such case.")
    return row


@blp.get("/cases/<case_id>/timeline")
@require_staff()
@blp.response(200, TimelineOut)
def case_timeline(case_id: str):
    """Everything that happened to the case, oldest first: the evidence a court would ask for."""
    with engine().connect() as connection:
        _case_or_404(connection, case_id)
        return timeline.case_timeline(connection, case_id)


@blp.get("/cases/<case_id>/timeline/export")
@require_staff()
@blp.response(200, content_type="text/html")
def export_timeline(case_id: str):
    """The timeline as one printable HTML document, personal data included; the export is itself noted."""
    exported_at = now()
    with engine().begin() as connection:
        _case_or_404(connection, case_id)
        connection.execute(case_notes.insert().values(case_id=case_id, kind="timeline_exported", detail={},
                                                      actor=g.staff.sub, at=exported_at))
        record = timeline.case_timeline(connection, case_id)
        actors = {str(e.detail[k]) for e in record.entries for k in ("actor", "opened_by", "assigned_by")
                  if e.detail.get(k)}
        names = timeline.staff_names(connection, actors | {g.staff.sub})
    document = timeline.render_html(record, exported_at, g.staff.sub, names)
    return Response(document, mimetype="text/html", headers={
        "Content-Disposition": f'attachment; filename="case-{case_id}-timeline.html"',
        "Cache-Control": "no-store"})
