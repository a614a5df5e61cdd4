"""The report for the meeting every few days: issues, breached deadlines, broken promises and trends."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, func, select
from sqlalchemy import case as when

from services.cases.reports.book import CollectionBook, Community, load_book
from services.cases.reports.conversion import StageConversion, funnel
from services.cases.reports.figures import total
from services.cases.tables import cases, owner_issues, promises
from shared.events import ISSUE_CATEGORIES


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
        "recovered": total(p.amount for p in book.payments if within(p.paid_on)),
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
