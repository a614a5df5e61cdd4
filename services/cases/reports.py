"""Collection progress of one community: what was recovered and by whom, and what each stage converts.

Everything is read on the community's own calendar. The daily meeting relies on these words:

- A case's *opening day* is the day it entered its first stage. Its *closing day* is, for a case
  closed as paid, the day its last payment was paid (a payment file imported days later still
  counts on the day the owner paid); for any other closing, the local day it was closed.
- *In scope* on day D: cases opened by D that are open at the end of D or closed in the 30 days
  up to D (open plus recently closed).
- *Community recovery rate* on D, over the cases in scope: recovered / (owed + recovered), where
  recovered is their payments paid by D and owed is what they owe now plus what was paid on them
  after D. No history of arrears is kept, so arrears that fell due after D count as owed on D.
- A case is *held* on D by the staff member of its latest assignment that began before D ended and
  had not ended before D began. A payment counts for whoever held the case on the day it was paid.
- A collector's *portfolio* on D: the open cases in scope they hold on D, and the cases closed in
  the 30 days up to D that they held on the closing day (so a case paid in full stays to their credit).
- *Collector recovery rate* on D: payments counted for their portfolio and paid by D, divided by
  the portfolio's amount owed at assignment.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy import case as when

from services.cases.ladder import STAGES
from services.cases.tables import (
    case_assignments,
    cases,
    communities,
    owner_issues,
    payments,
    promises,
    staff,
    staff_communities,
    stage_moves,
)
from shared.events import ISSUE_CATEGORIES

RECENT_DAYS = 30  # a closed case stays in the figures this many days
CONVERSION_DAYS = 30  # a stage converts when its case is paid in full within this many days
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")


def rate(part: Decimal, whole: Decimal) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, ROUND_HALF_UP) if whole else None


@dataclass(frozen=True)
class Community:
    id: str
    name: str
    locale: str
    timezone: ZoneInfo

    def start_of(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.timezone).astimezone(UTC)

    def end_of(self, day: date) -> datetime:
        return self.start_of(day + timedelta(days=1))

    def day_of(self, instant: datetime) -> date:
        return instant.astimezone(self.timezone).date()


def find_community(connection: Connection, community_id: str) -> Community | None:
    row = connection.execute(select(communities.c.id, communities.c.name, communities.c.locale,
                                    communities.c.timezone).where(communities.c.id == community_id)).first()
    return Community(row.id, row.name, row.locale, ZoneInfo(row.timezone)) if row else None


def closing_day(community: Community, closed_at: datetime | None, reason: str | None,
                last_paid_on: date | None) -> date | None:
    if closed_at is None:
        return None
    if reason == "paid" and last_paid_on is not None:
        return last_paid_on
    return community.day_of(closed_at)


@dataclass(frozen=True)
class CaseFacts:
    id: str
    amount_owed: Decimal
    opened_on: date
    closed_on: date | None

    def open_at_end_of(self, day: date) -> bool:
        return self.opened_on <= day and (self.closed_on is None or self.closed_on > day)

    def in_scope_on(self, day: date) -> bool:
        recent = self.closed_on is not None and day - timedelta(days=RECENT_DAYS) < self.closed_on <= day
        return self.open_at_end_of(day) or recent


@dataclass(frozen=True)
class Payment:
    id: str
    case_id: str
    amount: Decimal
    paid_on: date


@dataclass(frozen=True)
class Assignment:
    id: int
    case_id: str
    staff_id: str | None
    owed: Decimal
    assigned_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class ResolvedPromise:
    case_id: str
    status: str  # kept | broken
    resolved_on: date


@dataclass(frozen=True)
class Collector:
    id: str
    username: str
    name: str


@dataclass
class CollectionBook:
    """What the progress figures of one community over a few days are computed from."""

    community: Community
    cases: dict[str, CaseFacts]
    payments: list[Payment]
    assignments: dict[str, list[Assignment]]  # by case, oldest first
    promises: list[ResolvedPromise]
    collectors: dict[str, Collector] = field(default_factory=dict)

    def holder(self, case_id: str, day: date) -> Assignment | None:
        start, end = self.community.start_of(day), self.community.end_of(day)
        held = [a for a in self.assignments.get(case_id, ())
                if a.assigned_at < end and (a.ended_at is None or a.ended_at >= start)]
        return held[-1] if held else None

    @cached_property
    def credit(self) -> dict[str, Assignment | None]:
        """The assignment each payment counts for: the one holding the case the day it was paid."""
        return {p.id: self.holder(p.case_id, p.paid_on) for p in self.payments}


# --- loading -----------------------------------------------------------------------------------

def _cases_since(community: Community, first_day: date):
    """The community's cases that can be in scope on `first_day` or later."""
    window = community.start_of(first_day - timedelta(days=RECENT_DAYS))
    return and_(cases.c.community == community.id, or_(cases.c.closed_at.is_(None), cases.c.closed_at >= window))


def _last_paid_on():
    return select(func.max(payments.c.paid_on)).where(payments.c.case_id == cases.c.id).scalar_subquery()


def load_case_facts(connection: Connection, community: Community, first_day: date) -> dict[str, CaseFacts]:
    first_stage = select(func.min(stage_moves.c.entered_on)).where(stage_moves.c.case_id == cases.c.id)
    rows = connection.execute(select(
        cases.c.id, cases.c.amount_owed, cases.c.opened_at, cases.c.closed_at, cases.c.closed_reason,
        first_stage.scalar_subquery().label("opened_on"), _last_paid_on().label("last_paid_on"),
    ).where(_cases_since(community, first_day))).all()
    return {r.id: CaseFacts(r.id, r.amount_owed, r.opened_on or community.day_of(r.opened_at),
                            closing_day(community, r.closed_at, r.closed_reason, r.last_paid_on))
            for r in rows}


def load_book(connection: Connection, community: Community, first_day: date, last_day: date) -> CollectionBook:
    """Read what the figures for `first_day`..`last_day` need, in five queries."""
    scope = _cases_since(community, first_day)
    paid = connection.execute(
        select(payments.c.id, payments.c.case_id, payments.c.amount, payments.c.paid_on)
        .join(cases, cases.c.id == payments.c.case_id).where(scope)
    ).all()
    assigned = connection.execute(
        select(case_assignments).join(cases, cases.c.id == case_assignments.c.case_id)
        .where(scope, case_assignments.c.assigned_at < community.end_of(last_day))
        .order_by(case_assignments.c.assigned_at, case_assignments.c.id)
    ).all()
    resolved = connection.execute(
        select(promises.c.case_id, promises.c.status, promises.c.resolved_on)
        .join(cases, cases.c.id == promises.c.case_id)
        .where(cases.c.community == community.id, promises.c.status.in_(("kept", "broken")),
               promises.c.resolved_on.between(first_day, last_day))
    ).all()
    by_case: dict[str, list[Assignment]] = defaultdict(list)
    for a in assigned:
        by_case[a.case_id].append(Assignment(a.id, a.case_id, a.staff_id, a.amount_owed_at_assignment,
                                             a.assigned_at, a.ended_at))
    return CollectionBook(
        community=community, cases=load_case_facts(connection, community, first_day),
        payments=[Payment(p.id, p.case_id, p.amount, p.paid_on) for p in paid], assignments=dict(by_case),
        promises=[ResolvedPromise(*r) for r in resolved],
        collectors=load_collectors(connection, community.id, {a.staff_id for a in assigned} - {None}),
    )


def load_collectors(connection: Connection, community_id: str, holding: set[str]) -> dict[str, Collector]:
    """The community's active collectors, and anyone else holding one of its cases."""
    members = select(staff_communities.c.staff_id).where(staff_communities.c.community == community_id)
    rows = connection.execute(
        select(staff.c.id, staff.c.username, staff.c.name).where(or_(
            and_(staff.c.id.in_(members), staff.c.role == "collector", staff.c.active.is_(True)),
            staff.c.id.in_(sorted(holding)),
        )).order_by(staff.c.name, staff.c.id)
    ).all()
    return {r.id: Collector(r.id, r.username, r.name) for r in rows}


# --- daily progress ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    recovered: Decimal  # paid on the day
    recovered_to_date: Decimal  # what the recovery rate counts
    arrears: Decimal  # what the recovery rate is measured against
    recovery_rate: Decimal | None
    promises_kept: int
    promises_broken: int
    cases_closed: int


@dataclass(frozen=True)
class CollectorDay:
    collector: Collector
    progress: Progress


def _total(amounts) -> Decimal:
    return sum(amounts, ZERO).quantize(CENT)


def community_progress(book: CollectionBook, day: date) -> Progress:
    scope = {c.id for c in book.cases.values() if c.in_scope_on(day)}
    mine = [p for p in book.payments if p.case_id in scope]
    recovered_to_date = _total(p.amount for p in mine if p.paid_on <= day)
    owed = _total([book.cases[c].amount_owed for c in scope] + [p.amount for p in mine if p.paid_on > day])
    resolved = [p.status for p in book.promises if p.resolved_on == day]
    return Progress(
        recovered=_total(p.amount for p in mine if p.paid_on == day),
        recovered_to_date=recovered_to_date, arrears=owed + recovered_to_date,
        recovery_rate=rate(recovered_to_date, owed + recovered_to_date),
        promises_kept=resolved.count("kept"), promises_broken=resolved.count("broken"),
        cases_closed=sum(1 for c in book.cases.values() if c.closed_on == day),
    )


def portfolio(book: CollectionBook, day: date) -> dict[str, list[Assignment]]:
    """Each collector's portfolio on `day` (see the module's definitions)."""
    held: dict[str, list[Assignment]] = defaultdict(list)
    for facts in book.cases.values():
        if not facts.in_scope_on(day):
            continue
        assignment = book.holder(facts.id, day if facts.open_at_end_of(day) else facts.closed_on)
        if assignment is not None and assignment.staff_id is not None:
            held[assignment.staff_id].append(assignment)
    return held


def _holder_id(book: CollectionBook, case_id: str, day: date) -> str | None:
    assignment = book.holder(case_id, day)
    return assignment.staff_id if assignment else None


def _payments_by_collector(book: CollectionBook, day: date, held: dict[str, list[Assignment]]):
    """What each collector recovered on `day`, and up to it on their portfolio."""
    portfolio_of = {a.id: staff_id for staff_id, mine in held.items() for a in mine}
    on_day, to_date = defaultdict(list), defaultdict(list)
    for p in book.payments:
        credit = book.credit[p.id]
        if credit is None or p.paid_on > day:
            continue
        if p.paid_on == day:
            on_day[credit.staff_id].append(p.amount)
        if credit.id in portfolio_of:
            to_date[portfolio_of[credit.id]].append(p.amount)
    return on_day, to_date


def _outcomes_by_holder(book: CollectionBook, day: date):
    """Promises resolved and cases closed on `day`, by who held the case that day."""
    promised, closed = defaultdict(list), defaultdict(int)
    for p in book.promises:
        if p.resolved_on == day:
            promised[_holder_id(book, p.case_id, day)].append(p.status)
    for facts in book.cases.values():
        if facts.closed_on == day:
            closed[_holder_id(book, facts.id, day)] += 1
    return promised, closed


def collector_progress(book: CollectionBook, day: date) -> list[CollectorDay]:
    """Every collector's progress on `day`, in the order of their names."""
    held = portfolio(book, day)
    on_day, to_date = _payments_by_collector(book, day, held)
    promised, closed = _outcomes_by_holder(book, day)
    rows = []
    for staff_id in sorted(book.collectors.keys() | held.keys(), key=lambda s: _sort_name(book, s)):
        arrears = _total(a.owed for a in held.get(staff_id, ()))
        recovered_to_date = _total(to_date[staff_id])
        rows.append(CollectorDay(_collector(book, staff_id), Progress(
            recovered=_total(on_day[staff_id]), recovered_to_date=recovered_to_date, arrears=arrears,
            recovery_rate=rate(recovered_to_date, arrears), promises_kept=promised[staff_id].count("kept"),
            promises_broken=promised[staff_id].count("broken"), cases_closed=closed[staff_id],
        )))
    return rows


def _collector(book: CollectionBook, staff_id: str) -> Collector:
    return book.collectors.get(staff_id) or Collector(staff_id, staff_id, staff_id)


def _sort_name(book: CollectionBook, staff_id: str) -> tuple[str, str]:
    return _collector(book, staff_id).name, staff_id


# --- ranking -----------------------------------------------------------------------------------
# Collectors are ranked by recovery rate, then by what they recovered on the day; equal figures
# share a rank. A collector with no portfolio has nothing to be ranked on and is left unranked.

@dataclass(frozen=True)
class Standing:
    collector: Collector
    progress: Progress
    rank: int | None
    days_at_bottom: int  # consecutive days up to the report's day, at most `days`
    flagged: bool  # at the bottom every one of the last `days` days


def _merit(progress: Progress) -> tuple[Decimal, Decimal]:
    return progress.recovery_rate, progress.recovered


def ranks(day: list[CollectorDay]) -> dict[str, int]:
    """Competition ranks (1, 2, 2, 4) of the collectors with a portfolio."""
    ranked = [row for row in day if row.progress.recovery_rate is not None]
    return {row.collector.id: 1 + sum(_merit(o.progress) > _merit(row.progress) for o in ranked)
            for row in ranked}


def at_bottom(rank_of: dict[str, int], bottom: int) -> set[str]:
    """Collectors with fewer than `bottom` ranked below them; nobody, unless more than `bottom` are ranked."""
    if len(rank_of) <= bottom:
        return set()
    return {s for s, rank in rank_of.items() if sum(other > rank for other in rank_of.values()) < bottom}


def ranking(book: CollectionBook, day: date, bottom: int = 3, days: int = 3) -> list[Standing]:
    """The day's ranking, best first, with the collectors at the bottom `days` days running flagged."""
    bottoms = [at_bottom(ranks(collector_progress(book, day - timedelta(days=back))), bottom)
               for back in range(days)]
    today = collector_progress(book, day)
    rank_of = ranks(today)
    standings = []
    for row in today:
        streak = next((n for n, low in enumerate(bottoms) if row.collector.id not in low), days)
        standings.append(Standing(row.collector, row.progress, rank_of.get(row.collector.id), streak,
                                  streak >= days))
    return sorted(standings, key=lambda s: (s.rank is None, s.rank or 0, s.collector.name))


# --- stage funnel ------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageConversion:
    stage: str
    reached: int  # cases that entered the stage in the period
    paid_in_time: int  # of those, closed as paid within CONVERSION_DAYS of entering it
    still_counting: int  # still open, and their CONVERSION_DAYS are not over
    conversion: Decimal | None  # paid_in_time / reached


def funnel(connection: Connection, community: Community, since: date, until: date,
           as_of: date) -> list[StageConversion]:
    """For each ladder stage, how many cases reached it in since..until and how many then paid."""
    rows = connection.execute(
        select(stage_moves.c.stage, stage_moves.c.entered_on, cases.c.closed_at, cases.c.closed_reason,
               _last_paid_on().label("last_paid_on"))
        .join(cases, cases.c.id == stage_moves.c.case_id)
        .where(cases.c.community == community.id, stage_moves.c.entered_on.between(since, until))
    ).all()
    window = timedelta(days=CONVERSION_DAYS)
    tally = {stage: [0, 0, 0] for stage in STAGES}
    for row in rows:
        counts = tally.setdefault(row.stage, [0, 0, 0])
        closed_on = closing_day(community, row.closed_at, row.closed_reason, row.last_paid_on)
        paid = row.closed_reason == "paid" and closed_on is not None and closed_on - row.entered_on <= window
        counts[0] += 1
        counts[1] += paid
        counts[2] += not paid and row.closed_at is None and as_of <= row.entered_on + window
    return [StageConversion(stage, reached, paid, counting, rate(paid, reached))
            for stage, (reached, paid, counting) in tally.items()]


# --- the report every few days -----------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def period_ending(last: date, days: int) -> Period:
    return Period(last - timedelta(days=days - 1), last)


@dataclass(frozen=True)
class IssueCount:
    category: str
    opened: int  # raised in the period
    resolved: int  # resolved in the period
    open_at_end: int  # still unresolved when the period ended


@dataclass(frozen=True)
class BreachedDeadline:
    issue_id: str
    case_id: str | None
    category: str
    assignee_id: str | None
    deadline_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class BrokenPromise:
    promise_id: str
    case_id: str
    promised_date: date
    amount: Decimal  # what was promised: the amount, or all that was owed when it was made
    broken_on: date


@dataclass(frozen=True)
class Trend:
    figure: str
    current: Decimal | int
    previous: Decimal | int

    @property
    def change(self) -> Decimal | int:
        return self.current - self.previous


@dataclass(frozen=True)
class PeriodicReport:
    period: Period
    previous: Period
    issues: list[IssueCount]
    breached: list[BreachedDeadline]
    broken_promises: list[BrokenPromise]
    funnel: list[StageConversion]
    trend: list[Trend]


def _counted(condition):
    return func.coalesce(func.sum(when((condition, 1), else_=0)), 0)


def issues_by_category(connection: Connection, community: Community, period: Period) -> list[IssueCount]:
    start, end = community.start_of(period.first), community.end_of(period.last)
    issue = owner_issues.c
    rows = {r.category: r for r in connection.execute(
        select(issue.category,
               _counted(issue.created_at.between(start, end) & (issue.created_at < end)).label("opened"),
               _counted(issue.resolved_at.between(start, end) & (issue.resolved_at < end)).label("resolved"),
               _counted((issue.created_at < end) & (issue.resolved_at.is_(None) | (issue.resolved_at >= end)))
               .label("open_at_end"))
        .where(issue.community == community.id, issue.created_at < end).group_by(issue.category)
    )}
    categories = list(ISSUE_CATEGORIES) + sorted(set(rows) - set(ISSUE_CATEGORIES))
    return [IssueCount(c, *(int(getattr(rows[c], k)) if c in rows else 0
                            for k in ("opened", "resolved", "open_at_end"))) for c in categories]


def breached_deadlines(connection: Connection, community: Community, period: Period,
                       now: datetime) -> list[BreachedDeadline]:
    """Issues whose deadline fell in the period (and has passed) without their being resolved by it."""
    start, end = community.start_of(period.first), min(community.end_of(period.last), now)
    issue = owner_issues.c
    rows = connection.execute(
        select(issue.id, issue.case_id, issue.category, issue.assignee_id, issue.deadline_at, issue.resolved_at)
        .where(issue.community == community.id, issue.deadline_at >= start, issue.deadline_at < end,
               issue.resolved_at.is_(None) | (issue.resolved_at > issue.deadline_at))
        .order_by(issue.deadline_at, issue.id)
    ).all()
    return [BreachedDeadline(*row) for row in rows]


def broken_promises(connection: Connection, community: Community, period: Period) -> list[BrokenPromise]:
    rows = connection.execute(
        select(promises.c.id, promises.c.case_id, promises.c.promised_date,
               func.coalesce(promises.c.amount, promises.c.owed_when_made), promises.c.resolved_on)
        .join(cases, cases.c.id == promises.c.case_id)
        .where(cases.c.community == community.id, promises.c.status == "broken",
               promises.c.resolved_on.between(period.first, period.last))
        .order_by(promises.c.resolved_on, promises.c.id)
    ).all()
    return [BrokenPromise(*row) for row in rows]


def _headline(book: CollectionBook, period: Period, issues: list[IssueCount], breached: int) -> dict:
    def within(day):
        return period.first <= day <= period.last

    resolved = [p.status for p in book.promises if within(p.resolved_on)]
    return {
        "recovered": _total(p.amount for p in book.payments if within(p.paid_on)),
        "cases_closed": sum(1 for c in book.cases.values() if c.closed_on and within(c.closed_on)),
        "promises_kept": resolved.count("kept"),
        "promises_broken": resolved.count("broken"),
        "issues_opened": sum(i.opened for i in issues),
        "issues_resolved": sum(i.resolved for i in issues),
        "deadlines_breached": breached,
    }


def periodic_report(connection: Connection, community: Community, period: Period, as_of: date,
                    now: datetime) -> PeriodicReport:
    """The report for the meeting every few days, with each figure beside the period before."""
    previous = period.previous()
    book = load_book(connection, community, previous.first, period.last)
    issues = issues_by_category(connection, community, period)
    breached = breached_deadlines(connection, community, period, now)
    current = _headline(book, period, issues, len(breached))
    before = _headline(book, previous, issues_by_category(connection, community, previous),
                       len(breached_deadlines(connection, community, previous, now)))
    return PeriodicReport(
        period=period, previous=previous, issues=issues, breached=breached,
        broken_promises=broken_promises(connection, community, period),
        funnel=funnel(connection, community, period.first, period.last, as_of),
        trend=[Trend(name, current[name], before[name]) for name in current],
    )
