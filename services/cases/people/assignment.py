"""Who works which case (明确分工).

A case goes to a group by rule (prior-year arrears, hard cases for the manager, the rest to the
supervisor's group) and, within the group, to the active member holding the fewest open cases.
Every change of hands is a row in case_assignments: the history a ranking or a dispute can be read from.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, func, insert, select, update

from services.cases.ladder import STAGES
from services.cases.people.refusals import CaseClosed, NotInCommunity
from services.cases.people.staff_accounts import working_in
from services.cases.tables import (
    case_assignments,
    cases,
    collection_groups,
    group_members,
    owners,
    staff,
    staff_communities,
)

HARD_FROM_STAGE = "lawyer_letter"
_CHUNK = 500


def group_kind_for(due_date: date, stage: str, key_owner: bool, today: date) -> str:
    """Which group's work a case is; the first rule that holds wins."""
    if key_owner:
        return "manager_led"  # influential owners (核心人物) are the manager's, whatever their debt's age
    if due_date < date(today.year, 1, 1):
        return "prior_year"  # arrears from before this calendar year: the old-debt group
    if STAGES.index(stage) >= STAGES.index(HARD_FROM_STAGE):
        return "manager_led"  # hard cases: already past the lawyer's letter
    return "supervisor_led"


@dataclass(frozen=True)
class Assignment:
    case_id: str
    staff_id: str
    group_id: str | None
    amount_owed: Decimal
    reason: str


@dataclass(frozen=True)
class AutoAssignment:
    assigned: dict[str, int]  # by group kind
    unrouted: dict[str, int]  # cases whose group does not exist or has no active member

    @property
    def total(self) -> int:
        return sum(self.assigned.values())


def auto_assign(connection: Connection, community: str, today: date, actor: str, now: datetime) -> AutoAssignment:
    """Give every open, unassigned case of the community to the least-loaded member of its group."""
    pools = _pools(connection, community)
    loads = open_loads(connection, {member for pool in pools.values() for member in pool})
    waiting = connection.execute(
        select(cases.c.id, cases.c.due_date, cases.c.stage, cases.c.amount_owed, owners.c.key_owner)
        .join(owners, owners.c.id == cases.c.owner_id)
        .where(cases.c.community == community, cases.c.status == "open", cases.c.assignee_id.is_(None))
        # Largest debts first, so they spread over the members rather than pile on one.
        .order_by(cases.c.amount_owed.desc(), cases.c.opened_at, cases.c.id)
        .with_for_update(of=cases, skip_locked=True)  # a concurrent run takes the others (PostgreSQL)
    ).all()
    assigned, unrouted, batch = Counter(), Counter(), []
    for case in waiting:
        kind = group_kind_for(case.due_date, case.stage, case.key_owner, today)
        pool = pools.get(kind)
        if not pool:
            unrouted[kind] += 1
            continue
        member = min(pool, key=lambda staff_id: (loads[staff_id], pool[staff_id][0]))
        loads[member] += 1
        assigned[kind] += 1
        batch.append(Assignment(case.id, member, pool[member][1], case.amount_owed, f"auto:{kind}"))
    _record(connection, batch, actor, now)
    return AutoAssignment(dict(assigned), dict(unrouted))


def _pools(connection: Connection, community: str) -> dict[str, dict[str, tuple[str, str]]]:
    """kind -> {staff id: (username, group id)}: active members still working in the community.

    Two groups of one kind (two supervisor-led teams, say) share that kind's work.
    """
    rows = connection.execute(
        select(collection_groups.c.kind, collection_groups.c.id.label("group_id"), staff.c.id, staff.c.username)
        .join(group_members, group_members.c.group_id == collection_groups.c.id)
        .join(staff, staff.c.id == group_members.c.staff_id)
        .join(staff_communities, (staff_communities.c.staff_id == staff.c.id)
              & (staff_communities.c.community == community))
        .where(collection_groups.c.community == community, staff.c.active.is_(True))
        .order_by(collection_groups.c.name)
    ).all()
    pools: dict[str, dict[str, tuple[str, str]]] = {}
    for row in rows:
        pools.setdefault(row.kind, {}).setdefault(row.id, (row.username, row.group_id))
    return pools


def open_loads(connection: Connection, staff_ids) -> Counter:
    """How many open cases each of `staff_ids` holds now, in any community."""
    loads = Counter({staff_id: 0 for staff_id in staff_ids})
    for chunk in _chunks(sorted(staff_ids)):
        loads.update(dict(connection.execute(
            select(cases.c.assignee_id, func.count()).where(cases.c.assignee_id.in_(chunk), cases.c.status == "open")
            .group_by(cases.c.assignee_id)).all()))
    return loads


def reassign(connection: Connection, case_id: str, staff_id: str, actor: str, reason: str, now: datetime) -> None:
    """Hand a case to a named, active member of its community's staff (a no-op if it is theirs)."""
    case = connection.execute(select(cases).where(cases.c.id == case_id)).one()
    if case.status != "open":
        raise CaseClosed("the case is closed")
    if not working_in(connection, case.community, [staff_id], active_only=True):
        raise NotInCommunity([staff_id])
    holder = connection.execute(select(case_assignments.c.staff_id).where(
        case_assignments.c.case_id == case_id, case_assignments.c.ended_at.is_(None))).scalar()
    if holder == staff_id:
        return
    groups = connection.execute(
        select(collection_groups.c.id).join(group_members, group_members.c.group_id == collection_groups.c.id)
        .where(collection_groups.c.community == case.community, group_members.c.staff_id == staff_id)
        .order_by(collection_groups.c.name)).scalars().all()
    # Stay in the case's group when the new holder belongs to it; else follow them to theirs.
    group_id = case.group_id if case.group_id in groups else next(iter(groups), None)
    _record(connection, [Assignment(case.id, staff_id, group_id, case.amount_owed, reason)], actor, now)


def _record(connection: Connection, batch: list[Assignment], actor: str, now: datetime) -> None:
    """End each case's current assignment, start the new one, and point the case at its holder."""
    if not batch:
        return
    for chunk in _chunks([a.case_id for a in batch]):
        connection.execute(update(case_assignments).where(case_assignments.c.case_id.in_(chunk),
                                                          case_assignments.c.ended_at.is_(None))
                           .values(ended_at=now))
    connection.execute(insert(case_assignments), [
        {"case_id": a.case_id, "staff_id": a.staff_id, "group_id": a.group_id, "assigned_by": actor,
         "amount_owed_at_assignment": a.amount_owed, "reason": a.reason, "assigned_at": now} for a in batch])
    connection.execute(
        update(cases).where(cases.c.id == bindparam("b_case"))
        .values(assignee_id=bindparam("b_staff"), group_id=bindparam("b_group")),
        [{"b_case": a.case_id, "b_staff": a.staff_id, "b_group": a.group_id} for a in batch])


def assignment_history(connection: Connection, case_id: str) -> list[dict]:
    """Who held the case, oldest first; the current holder's row has no ended_at."""
    return [dict(row) for row in connection.execute(
        select(case_assignments, staff.c.username, collection_groups.c.kind.label("group_kind"))
        .outerjoin(staff, staff.c.id == case_assignments.c.staff_id)
        .outerjoin(collection_groups, collection_groups.c.id == case_assignments.c.group_id)
        .where(case_assignments.c.case_id == case_id).order_by(case_assignments.c.id)).mappings()]


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]
