"""Staff, sign-in, collection groups and who works which case (明确分工).

Plain functions over a connection, so the API, the sweep and the reports share them. A case goes
to a group by rule (prior-year arrears, hard cases for the manager, the rest to the supervisor's
group) and, within the group, to the active member holding the fewest open cases. Every change of
hands is a row in case_assignments: the history a ranking or a dispute can be read from.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from services.cases.ladder import STAGES
from services.cases.tables import (
    case_assignments,
    cases,
    collection_groups,
    communities,
    group_members,
    owners,
    staff,
    staff_communities,
)
from shared.auth import ROLES

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"
# A manager staffs their own centre; only an admin makes managers and admins.
MANAGER_MAY_APPOINT = ("collector", "supervisor")
GROUP_KINDS = ("supervisor_led", "manager_led", "prior_year")
HARD_FROM_STAGE = "lawyer_letter"
_CHUNK = 500


class PeopleRefused(ValueError):
    """A change to staff, groups or assignments that the rules do not allow."""


class UsernameTaken(PeopleRefused):
    pass


class GroupNameTaken(PeopleRefused):
    pass


class NotInCommunity(PeopleRefused):
    """Some staff do not (actively) work in the community concerned."""

    def __init__(self, staff_ids):
        super().__init__(f"not staff of this community: {sorted(staff_ids)}")
        self.staff_ids = sorted(staff_ids)


class CaseClosed(PeopleRefused):
    pass


@dataclass(frozen=True)
class NewStaff:
    username: str
    name: str
    role: str
    communities: tuple[str, ...]
    password: str


@dataclass(frozen=True)
class SignedIn:
    staff_id: str
    role: str
    communities: tuple[str, ...]


def normalise_username(username: str) -> str:
    return username.strip().lower()


def new_password() -> str:
    return secrets.token_urlsafe(15)


@cache
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe())


def unknown_communities(connection: Connection, names) -> list[str]:
    known = set(connection.execute(select(communities.c.id).where(communities.c.id.in_(list(names)))).scalars())
    return sorted(set(names) - known)


def create_staff(connection: Connection, new: NewStaff, now: datetime) -> str:
    """Add a staff member with a hashed password (werkzeug's default: scrypt); return their id."""
    username = normalise_username(new.username)
    if not re.match(USERNAME_PATTERN, username) or new.role not in ROLES:
        raise PeopleRefused("a username is 2-64 letters, digits, '.', '_' or '-', and the role must be known")
    if connection.execute(select(staff.c.id).where(staff.c.username == username)).first():
        raise UsernameTaken(f"the username {username!r} is taken")
    staff_id = str(uuid.uuid4())
    try:
        connection.execute(insert(staff).values(
            id=staff_id, username=username, name=new.name, role=new.role,
            password_hash=generate_password_hash(new.password), active=True, created_at=now,
        ))
    except IntegrityError:  # the same username, created a moment ago by someone else
        raise UsernameTaken(f"the username {username!r} is taken") from None
    _set_communities(connection, staff_id, new.communities)
    return staff_id


def sign_in(connection: Connection, username: str, password: str) -> SignedIn | None:
    """Who these credentials belong to, or None (unknown, wrong password or inactive alike)."""
    row = connection.execute(
        select(staff.c.id, staff.c.role, staff.c.password_hash, staff.c.active)
        .where(staff.c.username == normalise_username(username))
    ).first()
    # An unknown username costs a hash check too, so timing does not tell which usernames exist.
    matches = check_password_hash(row.password_hash if row else _decoy_hash(), password)
    if row is None or not matches or not row.active:
        return None
    return SignedIn(row.id, row.role, communities_of(connection, row.id))


def communities_of(connection: Connection, staff_id: str) -> tuple[str, ...]:
    return tuple(connection.execute(
        select(staff_communities.c.community).where(staff_communities.c.staff_id == staff_id)
        .order_by(staff_communities.c.community)).scalars())


_PUBLIC = (staff.c.id, staff.c.username, staff.c.name, staff.c.role, staff.c.active, staff.c.created_at)


def staff_record(connection: Connection, staff_id: str) -> dict | None:
    """A staff member as others may see them: never the password hash."""
    row = connection.execute(select(*_PUBLIC).where(staff.c.id == staff_id)).mappings().first()
    return None if row is None else {**row, "communities": communities_of(connection, staff_id)}


def staff_page(connection: Connection, scope: tuple[str, ...] | None, args: dict) -> tuple[list[dict], int]:
    """Staff sharing a community with `scope` (None: everyone), by username, one page."""
    conditions = []
    if scope is not None:
        conditions.append(staff.c.id.in_(select(staff_communities.c.staff_id)
                                         .where(staff_communities.c.community.in_(scope))))
    if args.get("community"):
        conditions.append(staff.c.id.in_(select(staff_communities.c.staff_id)
                                         .where(staff_communities.c.community == args["community"])))
    for name in ("role", "active"):
        if args.get(name) is not None:
            conditions.append(staff.c[name] == args[name])
    total = connection.execute(select(func.count()).select_from(staff).where(*conditions)).scalar_one()
    rows = connection.execute(select(*_PUBLIC).where(*conditions).order_by(staff.c.username)
                              .limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).mappings().all()
    memberships: dict[str, list[str]] = {row["id"]: [] for row in rows}
    for staff_id, community in connection.execute(
            select(staff_communities.c.staff_id, staff_communities.c.community)
            .where(staff_communities.c.staff_id.in_(list(memberships))).order_by(staff_communities.c.community)):
        memberships[staff_id].append(community)
    return [{**row, "communities": tuple(memberships[row["id"]])} for row in rows], total


def update_staff(connection: Connection, staff_id: str, *, role: str | None = None,
                 communities: tuple[str, ...] | None = None, active: bool | None = None) -> None:
    changes = {k: v for k, v in {"role": role, "active": active}.items() if v is not None}
    if changes:
        connection.execute(update(staff).where(staff.c.id == staff_id).values(**changes))
    if communities is not None:
        connection.execute(delete(staff_communities).where(staff_communities.c.staff_id == staff_id))
        _set_communities(connection, staff_id, communities)


def _set_communities(connection: Connection, staff_id: str, names) -> None:
    rows = [{"staff_id": staff_id, "community": name} for name in sorted(set(names))]
    if rows:
        connection.execute(insert(staff_communities), rows)


class FailedSignIns:
    """Failed sign-ins per username, in this process, to slow down password guessing.

    After `limit` failures within `window` seconds a username is locked (even for the right
    password) until its oldest failure ages out; a success clears its count. Unknown usernames
    count too, so a lock says nothing about who exists. The count lives in the process: each
    gunicorn worker keeps its own (the real limit is `limit` x workers) and a restart forgets it.
    That stops an online guesser; a hard global limit would need a shared store.
    """

    def __init__(self, limit: int = 5, window: float = 900.0, clock=time.monotonic, max_usernames: int = 10_000):
        self.limit, self.window, self.clock, self.max_usernames = limit, window, clock, max_usernames
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def locked_for(self, username: str) -> float:
        """Seconds until `username` may try again; 0 when it may now."""
        with self._lock:
            recent = self._recent(username)
            return max(0.0, recent[0] + self.window - self.clock()) if len(recent) >= self.limit else 0.0

    def failed(self, username: str) -> None:
        with self._lock:
            self._failures[username] = self._recent(username)
            self._failures[username].append(self.clock())
            if len(self._failures) > self.max_usernames:  # bound the memory a spray of names can take
                for name in [name for name in self._failures if not self._recent(name)]:
                    del self._failures[name]
            while len(self._failures) > self.max_usernames:
                self._failures.pop(next(iter(self._failures)))

    def __len__(self) -> int:
        """How many usernames are being counted."""
        return len(self._failures)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)

    def _recent(self, username: str) -> deque[float]:
        recent = self._failures.get(username, deque())
        while recent and recent[0] <= self.clock() - self.window:
            recent.popleft()
        return recent


def working_in(connection: Connection, community: str, staff_ids, active_only: bool = False) -> set[str]:
    """Which of `staff_ids` work in `community`."""
    query = (select(staff.c.id).join(staff_communities, staff_communities.c.staff_id == staff.c.id)
             .where(staff_communities.c.community == community, staff.c.id.in_(list(staff_ids))))
    if active_only:
        query = query.where(staff.c.active.is_(True))
    return set(connection.execute(query).scalars())


def create_group(connection: Connection, community: str, name: str, kind: str,
                 leader_id: str | None = None, members=()) -> str:
    if kind not in GROUP_KINDS:
        raise PeopleRefused(f"a group's kind is one of {GROUP_KINDS}")
    if connection.execute(select(collection_groups.c.id).where(collection_groups.c.community == community,
                                                               collection_groups.c.name == name)).first():
        raise GroupNameTaken(f"the community already has a group named {name!r}")
    _check_staff(connection, community, [leader_id] if leader_id else [])
    group_id = str(uuid.uuid4())
    connection.execute(insert(collection_groups).values(id=group_id, community=community, name=name,
                                                        kind=kind, leader_id=leader_id))
    set_members(connection, group_id, members)
    return group_id


def group_row(connection: Connection, group_id: str):
    return connection.execute(select(collection_groups).where(collection_groups.c.id == group_id)).first()


def set_members(connection: Connection, group_id: str, staff_ids, leader_id: str | None = None) -> None:
    """Replace the group's members (and its leader, if given) with staff of its community."""
    group = group_row(connection, group_id)
    staff_ids = sorted(set(staff_ids))
    _check_staff(connection, group.community, staff_ids + ([leader_id] if leader_id else []))
    if leader_id:
        connection.execute(update(collection_groups).where(collection_groups.c.id == group_id)
                           .values(leader_id=leader_id))
    connection.execute(delete(group_members).where(group_members.c.group_id == group_id))
    if staff_ids:
        connection.execute(insert(group_members), [{"group_id": group_id, "staff_id": s} for s in staff_ids])


def _check_staff(connection: Connection, community: str, staff_ids: list[str]) -> None:
    strangers = set(staff_ids) - working_in(connection, community, staff_ids)
    if strangers:
        raise NotInCommunity(strangers)


def groups_of(connection: Connection, community: str) -> list[dict]:
    """The community's groups by name, each with its members."""
    groups = [dict(row) for row in connection.execute(
        select(collection_groups).where(collection_groups.c.community == community)
        .order_by(collection_groups.c.name)).mappings()]
    members = connection.execute(
        select(group_members.c.group_id, staff.c.id, staff.c.username, staff.c.name, staff.c.active)
        .join(staff, staff.c.id == group_members.c.staff_id)
        .where(group_members.c.group_id.in_([g["id"] for g in groups])).order_by(staff.c.username)).all()
    for group in groups:
        group["members"] = [m._asdict() for m in members if m.group_id == group["id"]]
    return groups


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
