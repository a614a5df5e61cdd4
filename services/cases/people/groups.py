"""Collection groups of a community: their kind, leader and members."""
from __future__ import annotations

import uuid

from sqlalchemy import Connection, delete, insert, select, update

from services.cases.people.refusals import GroupNameTaken, NotInCommunity, PeopleRefused
from services.cases.people.staff_accounts import working_in
from services.cases.tables import collection_groups, group_members, staff

GROUP_KINDS = ("supervisor_led", "manager_led", "prior_year")


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
