"""The centre's register: owners and their contacts, units, and the fee ledger (idempotent upserts).

Loading the same data twice changes nothing; loading newer data updates what changed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, insert, select, update

from services.cases.tables import ledger_entries, owner_contacts, owners, units


@dataclass(frozen=True)
class OwnerRecord:
    community: str
    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    locale: str = "zh-CN"
    key_owner: bool = False
    external_ref: str | None = None


@dataclass(frozen=True)
class UnitRecord:
    community: str
    building: str
    number: str


@dataclass(frozen=True)
class LedgerRecord:
    unit: UnitRecord
    fee_period: str
    amount_due: Decimal
    due_date: date
    amount_paid: Decimal = field(default=Decimal("0.00"))


def find_owner(connection: Connection, record: OwnerRecord) -> str | None:
    if record.external_ref:
        found = connection.execute(select(owners.c.id).where(
            owners.c.community == record.community, owners.c.external_ref == record.external_ref)).scalar()
        if found:
            return found
    for phone in record.phones:
        found = connection.execute(
            select(owners.c.id).join(owner_contacts, owner_contacts.c.owner_id == owners.c.id)
            .where(owners.c.community == record.community, owner_contacts.c.channel == "sms",
                   owner_contacts.c.address == phone).limit(1)
        ).scalar()
        if found:
            return found
    return None


def upsert_owner(connection: Connection, record: OwnerRecord) -> str:
    """Create or update the owner; contacts are added, never silently dropped."""
    owner_id = find_owner(connection, record)
    now = datetime.now(UTC)
    if owner_id is None:
        owner_id = str(uuid.uuid4())
        connection.execute(insert(owners).values(
            id=owner_id, community=record.community, external_ref=record.external_ref, name=record.name,
            locale=record.locale, key_owner=record.key_owner, contact_status="reachable",
            broken_promises=0, created_at=now,
        ))
    else:
        connection.execute(update(owners).where(owners.c.id == owner_id).values(
            name=record.name, locale=record.locale, key_owner=record.key_owner,
            **({"external_ref": record.external_ref} if record.external_ref else {}),
        ))
    known = {(r.channel, r.address) for r in connection.execute(
        select(owner_contacts.c.channel, owner_contacts.c.address).where(owner_contacts.c.owner_id == owner_id))}
    fresh = [("sms", p) for p in record.phones] + [("email", e) for e in record.emails]
    new = [{"owner_id": owner_id, "channel": c, "address": a, "status": "ok", "updated_at": now}
           for c, a in dict.fromkeys(fresh) if (c, a) not in known]
    if new:
        connection.execute(insert(owner_contacts), new)
        # A new way to reach an owner makes them reachable again.
        connection.execute(update(owners).where(owners.c.id == owner_id).values(contact_status="reachable"))
    return owner_id


def upsert_unit(connection: Connection, unit: UnitRecord, owner_id: str) -> str:
    found = connection.execute(select(units.c.id, units.c.owner_id).where(
        units.c.community == unit.community, units.c.building == unit.building,
        units.c.number == unit.number)).first()
    if found is None:
        unit_id = str(uuid.uuid4())
        connection.execute(insert(units).values(id=unit_id, community=unit.community, building=unit.building,
                                                number=unit.number, owner_id=owner_id))
        return unit_id
    if found.owner_id != owner_id:
        connection.execute(update(units).where(units.c.id == found.id).values(owner_id=owner_id))
    return found.id


def find_unit(connection: Connection, unit: UnitRecord):
    return connection.execute(select(units.c.id, units.c.owner_id).where(
        units.c.community == unit.community, units.c.building == unit.building,
        units.c.number == unit.number)).first()


def upsert_ledger(connection: Connection, unit_id: str, record: LedgerRecord) -> bool:
    """Insert or update one fee period of a unit; True if anything changed."""
    found = connection.execute(select(ledger_entries).where(
        ledger_entries.c.unit_id == unit_id, ledger_entries.c.fee_period == record.fee_period)).first()
    values = {"amount_due": record.amount_due, "due_date": record.due_date, "amount_paid": record.amount_paid}
    if found is None:
        connection.execute(insert(ledger_entries).values(
            id=str(uuid.uuid4()), unit_id=unit_id, fee_period=record.fee_period, **values))
        return True
    if (found.amount_due, found.due_date, found.amount_paid) == tuple(values.values()):
        return False
    connection.execute(update(ledger_entries).where(ledger_entries.c.id == found.id).values(**values))
    return True
