"""Owners' phones and emails: which still work, and who can no longer be reached at all."""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, insert, select, update

from services.cases.tables import cases, outbox, owner_contacts, owners, staff_tasks
from shared.envelope import new_event
from shared.outbox import add_to_outbox

FAILED_DELIVERY = frozenset({"undelivered", "failed", "bounce", "dropped"})


def usable_contacts(connection: Connection, owner_ids: list[str]) -> dict[str, dict[str, str]]:
    """For each owner, the first working phone ('sms') and email ('email')."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    if not owner_ids:
        return found
    rows = connection.execute(
        select(owner_contacts.c.owner_id, owner_contacts.c.channel, owner_contacts.c.address)
        .where(owner_contacts.c.owner_id.in_(owner_ids), owner_contacts.c.status == "ok")
        .order_by(owner_contacts.c.owner_id, owner_contacts.c.channel, owner_contacts.c.address)
    )
    for owner_id, channel, address in rows:
        found[owner_id].setdefault(channel, address)
    return found


def mark_contact(connection: Connection, owner_id: str, channel: str, address: str, status: str,
                 reason: str | None) -> None:
    """Set one contact's status; if no contact works any more, the owner becomes unreachable."""
    connection.execute(
        update(owner_contacts)
        .where(owner_contacts.c.owner_id == owner_id, owner_contacts.c.channel == channel,
               owner_contacts.c.address == address)
        .values(status=status, reason=reason, updated_at=datetime.now(UTC))
    )
    if status == "bad":
        _check_reachable(connection, owner_id)


def _check_reachable(connection: Connection, owner_id: str) -> None:
    working = connection.execute(
        select(owner_contacts.c.address).where(
            owner_contacts.c.owner_id == owner_id, owner_contacts.c.status == "ok"
        ).limit(1)
    ).first()
    if working is not None:
        return
    owner = connection.execute(
        select(owners.c.community, owners.c.contact_status).where(owners.c.id == owner_id)
    ).one()
    if owner.contact_status == "unreachable":
        return
    connection.execute(update(owners).where(owners.c.id == owner_id).values(contact_status="unreachable"))
    case_id = connection.execute(
        select(cases.c.id).where(and_(cases.c.owner_id == owner_id, cases.c.status == "open")).limit(1)
    ).scalar()
    task_id = str(uuid.uuid4())
    connection.execute(insert(staff_tasks).values(
        id=task_id, kind="reverify_contacts", community=owner.community, owner_id=owner_id,
        case_id=case_id, status="open", created_at=datetime.now(UTC),
    ))
    add_to_outbox(connection, outbox, new_event("owner.unreachable", {
        "owner_id": owner_id, "community": owner.community, "task_id": task_id,
    }))


def owner_of_case(connection: Connection, case_id: str) -> str | None:
    return connection.execute(select(cases.c.owner_id).where(cases.c.id == case_id)).scalar()
