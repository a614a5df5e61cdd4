"""Query arguments and bodies of the report endpoints."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.schemas import IN_CALENDAR, StrictSchema

FORMAT = fields.Str(load_default="json", validate=validate.OneOf(("json", "csv")))
Money = fields.Decimal(as_string=True, places=2)
Rate = fields.Decimal(as_string=True, places=4, allow_none=True)


class DayArgs(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    date = fields.Date(load_default=None, validate=IN_CALENDAR,
                       metadata={"description": "Default: the community's today."})
    format = FORMAT


class RankingArgs(DayArgs):
    bottom = fields.Int(load_default=3, validate=validate.Range(min=1, max=50))
    days = fields.Int(load_default=3, validate=validate.Range(min=1, max=31))


class FunnelArgs(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    since = fields.Date(load_default=None, validate=IN_CALENDAR,
                        metadata={"description": "Default: 29 days before `until`."})
    until = fields.Date(load_default=None, validate=IN_CALENDAR,
                        metadata={"description": "Default: the community's today."})
    format = FORMAT


class PeriodicArgs(StrictSchema):
    community = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    days = fields.Int(load_default=3, validate=validate.Range(min=1, max=92))
    until = fields.Date(load_default=None, validate=IN_CALENDAR,
                        metadata={"description": "Last day; default: the community's today."})
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
