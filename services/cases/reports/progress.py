"""Daily progress: the community's, and each collector's on their portfolio."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.cases.reports.book import Assignment, CollectionBook, Collector
from services.cases.reports.figures import rate, total


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


def community_progress(book: CollectionBook, day: date) -> Progress:
    scope = {c.id for c in book.cases.values() if c.in_scope_on(day)}
    mine = [p for p in book.payments if p.case_id in scope]
    recovered_to_date = total(p.amount for p in mine if p.paid_on <= day)
    owed = total([book.cases[c].amount_owed for c in scope] + [p.amount for p in mine if p.paid_on > day])
    resolved = [p.status for p in book.promises if p.resolved_on == day]
    return Progress(
        recovered=total(p.amount for p in mine if p.paid_on == day),
        recovered_to_date=recovered_to_date, arrears=owed + recovered_to_date,
        recovery_rate=rate(recovered_to_date, owed + recovered_to_date),
        promises_kept=resolved.count("kept"), promises_broken=resolved.count("broken"),
        cases_closed=sum(1 for c in book.cases.values() if c.closed_on == day),
    )


def portfolio(book: CollectionBook, day: date) -> dict[str, list[Assignment]]:
    """Each collector's portfolio on `day` (see services.cases.reports for the words)."""
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
        arrears = total(a.owed for a in held.get(staff_id, ()))
        recovered_to_date = total(to_date[staff_id])
        rows.append(CollectorDay(_collector(book, staff_id), Progress(
            recovered=total(on_day[staff_id]), recovered_to_date=recovered_to_date, arrears=arrears,
            recovery_rate=rate(recovered_to_date, arrears), promises_kept=promised[staff_id].count("kept"),
            promises_broken=promised[staff_id].count("broken"), cases_closed=closed[staff_id],
        )))
    return rows


def _collector(book: CollectionBook, staff_id: str) -> Collector:
    return book.collectors.get(staff_id) or Collector(staff_id, staff_id, staff_id)


def _sort_name(book: CollectionBook, staff_id: str) -> tuple[str, str]:
    return _collector(book, staff_id).name, staff_id
