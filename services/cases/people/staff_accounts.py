"""Staff accounts: who they are, their role, and the communities they work in."""
from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from services.cases.people.refusals import PeopleRefused, UsernameTaken
from services.cases.people.revocation import revoke_all
from services.cases.tables import communities, staff, staff_communities
from shared.auth import ROLES

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"
# A manager staffs their own centre; only an admin makes managers and admins.
MANAGER_MAY_APPOINT = ("collector", "supervisor")


@dataclass(frozen=True)
class NewStaff:
    username: str
    name: str
    role: str
    communities: tuple[str, ...]
    password: str
    email: str | None = None  # where a manager's emailed reports go; stored lowercased


def normalise_email(email: str | None) -> str | None:
    """An address as stored and compared: trimmed and lowercased; empty means none."""
    return (email or "").strip().lower() or None


def normalise_username(username: str) -> str:
    return username.strip().lower()


def new_password() -> str:
    return secrets.token_urlsafe(15)


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
            email=normalise_email(new.email),
        ))
    except IntegrityError:  # the same username, created a moment ago by someone else
        raise UsernameTaken(f"the username {username!r} is taken") from None
    _set_communities(connection, staff_id, new.communities)
    return staff_id


def communities_of(connection: Connection, staff_id: str) -> tuple[str, ...]:
    return tuple(connection.execute(
        select(staff_communities.c.community).where(staff_communities.c.staff_id == staff_id)
        .order_by(staff_communities.c.community)).scalars())


_PUBLIC = (staff.c.id, staff.c.username, staff.c.name, staff.c.email, staff.c.role, staff.c.active,
           staff.c.created_at)


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
                 communities: tuple[str, ...] | None = None, active: bool | None = None,
                 now: datetime | None = None) -> int:
    """Change a role, communities or active flag. A deactivation, or a role or communities that differ
    from before, revokes all the person's sessions in this transaction; returns how many."""
    before = connection.execute(select(staff.c.role, staff.c.active).where(staff.c.id == staff_id)).first()
    reasons = []
    if before is not None:
        if active is False and before.active:
            reasons.append("deactivated")
        if role is not None and role != before.role:
            reasons.append("role_changed")
        if communities is not None and set(communities) != set(communities_of(connection, staff_id)):
            reasons.append("communities_changed")
    changes = {k: v for k, v in {"role": role, "active": active}.items() if v is not None}
    if changes:
        connection.execute(update(staff).where(staff.c.id == staff_id).values(**changes))
    if communities is not None:
        connection.execute(delete(staff_communities).where(staff_communities.c.staff_id == staff_id))
        _set_communities(connection, staff_id, communities)
    if not reasons:
        return 0
    return revoke_all(connection, staff_id, now or datetime.now(UTC), reasons[0])


def set_password(connection: Connection, staff_id: str, password: str, now: datetime | None = None) -> int:
    """Replace a staff member's password and revoke all their sessions; returns how many."""
    connection.execute(update(staff).where(staff.c.id == staff_id).values(
        password_hash=generate_password_hash(password)))
    return revoke_all(connection, staff_id, now or datetime.now(UTC), "password_changed")


def password_matches(connection: Connection, staff_id: str, password: str) -> bool:
    stored = connection.execute(select(staff.c.password_hash).where(staff.c.id == staff_id)).scalar_one_or_none()
    return stored is not None and check_password_hash(stored, password)


def set_email(connection: Connection, staff_id: str, email: str | None) -> None:
    """Set (or, with None, clear) where this staff member's emailed reports go."""
    connection.execute(update(staff).where(staff.c.id == staff_id).values(email=normalise_email(email)))


def _set_communities(connection: Connection, staff_id: str, names) -> None:
    rows = [{"staff_id": staff_id, "community": name} for name in sorted(set(names))]
    if rows:
        connection.execute(insert(staff_communities), rows)


def working_in(connection: Connection, community: str, staff_ids, active_only: bool = False) -> set[str]:
    """Which of `staff_ids` work in `community`."""
    query = (select(staff.c.id).join(staff_communities, staff_communities.c.staff_id == staff.c.id)
             .where(staff_communities.c.community == community, staff.c.id.in_(list(staff_ids))))
    if active_only:
        query = query.where(staff.c.active.is_(True))
    return set(connection.execute(query).scalars())


def manager_emails(connection: Connection, community: str) -> tuple[str, ...]:
    """The addresses of the active managers working in `community`, by username (admins are not included)."""
    return tuple(connection.execute(
        select(staff.c.email).join(staff_communities, staff_communities.c.staff_id == staff.c.id)
        .where(staff_communities.c.community == community, staff.c.role == "manager",
               staff.c.active.is_(True), staff.c.email.is_not(None))
        .order_by(staff.c.username)).scalars())
