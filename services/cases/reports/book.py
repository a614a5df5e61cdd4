"""A community's collection book: its cases, payments, assignments and promises, read for the reports."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select

from services.cases.tables import (
    case_assignments,
    cases,
    communities,
    payments,
    promises,
    staff,
    staff_communities,
    stage_moves,
)

RECENT_DAYS = 30  # a closed case stays in the figures this many days


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


def _cases_since(community: Community, first_day: date):
    """The community's cases that can be in scope on `first_day` or later."""
    window = community.start_of(first_day - timedelta(days=RECENT_DAYS))
    return and_(cases.c.community == community.id, or_(cases.c.closed_at.is_(None), cases.c.closed_at >= window))


def last_paid_on():
    return select(func.max(payments.c.paid_on)).where(payments.c.case_id == cases.c.id).scalar_subquery()


def load_case_facts(connection: Connection, community: Community, first_day: date) -> dict[str, CaseFacts]:
    first_stage = select(func.min(stage_moves.c.entered_on)).where(stage_moves.c.case_id == cases.c.id)
    rows = connection.execute(select(
        cases.c.id, cases.c.amount_owed, cases.c.opened_at, cases.c.closed_at, cases.c.closed_reason,
        first_stage.scalar_subquery().label("opened_on"), last_paid_on().label("last_paid_on"),
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
