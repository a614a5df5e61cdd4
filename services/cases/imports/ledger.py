"""Applying a ledger set-wise: a few queries per community, not per row."""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, insert, select, update

from services.cases.imports.batches import CHUNK, execute_many
from services.cases.imports.case_refresh import refresh_cases
from services.cases.imports.checking import Community, LedgerRow
from services.cases.imports.report import ImportReport
from services.cases.tables import ledger_entries, owner_contacts, owners, units


class _Owner(NamedTuple):
    community: str
    ref: str | None
    name: str
    locale: str
    key_owner: bool
    contact_status: str


class LedgerPlan:
    """What the database holds for a file's communities, and what it should hold after the file.

    Owners are found the way register.find_owner finds them: by owner_ref, else by any of their
    phones; a row whose owner is not found adds one. Later rows win, as row-by-row upserts would.
    """

    def __init__(self, connection: Connection, names: list[str], periods: set[str]):
        self.owners_before: dict[str, _Owner] = {}
        self.by_ref: dict[tuple[str, str], str] = {}
        self.by_phone: dict[tuple[str, str], str] = {}
        self.contacts: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for row in connection.execute(select(owners.c.id, owners.c.community, owners.c.external_ref,
                                             owners.c.name, owners.c.locale, owners.c.key_owner,
                                             owners.c.contact_status).where(owners.c.community.in_(names))):
            self.owners_before[row.id] = _Owner(*row[1:])
            if row.external_ref:
                self.by_ref[(row.community, row.external_ref)] = row.id
        for owner_id, community, channel, address in connection.execute(
                select(owner_contacts.c.owner_id, owners.c.community, owner_contacts.c.channel,
                       owner_contacts.c.address).join(owners, owners.c.id == owner_contacts.c.owner_id)
                .where(owners.c.community.in_(names))):
            self.contacts[owner_id].add((channel, address))
            if channel == "sms":
                self.by_phone.setdefault((community, address), owner_id)
        unit_rows = connection.execute(
            select(units.c.id, units.c.community, units.c.building, units.c.number, units.c.owner_id)
            .where(units.c.community.in_(names)))
        self.units_before = {(r.community, r.building, r.number): (r.id, r.owner_id) for r in unit_rows}
        entry = ledger_entries.c
        entries = (select(entry.id, entry.unit_id, entry.fee_period, entry.amount_due, entry.due_date,
                          entry.amount_paid)
                   .join(units, units.c.id == entry.unit_id).where(units.c.community.in_(names)))
        if len(periods) <= CHUNK:  # only the periods in the file: a community's history can be long
            entries = entries.where(ledger_entries.c.fee_period.in_(sorted(periods)))
        self.entries_before = {(r.unit_id, r.fee_period): (r.id, r.amount_due, r.due_date, r.amount_paid)
                               for r in connection.execute(entries)}
        self.owners: dict[str, _Owner] = {}
        self.new_contacts: list[tuple[str, str, str]] = []
        self.contacted: set[str] = set()  # owners given a phone or email they did not have
        self.unit_ids: dict[tuple[str, str, str], str] = {k: v[0] for k, v in self.units_before.items()}
        self.unit_owner: dict[tuple[str, str, str], str] = {}
        self.row_keys: list[tuple[str, tuple[str, str, str], tuple[str, str]]] = []

    def add(self, row: LedgerRow) -> None:
        community = row.community
        owner_id = (row.owner_ref and self.by_ref.get((community, row.owner_ref))) or next(
            (self.by_phone[(community, p)] for p in row.phones if (community, p) in self.by_phone), None)
        if owner_id is None:
            owner_id = str(uuid.uuid4())
        current = self.owners.get(owner_id) or self.owners_before.get(owner_id)
        ref = current.ref if current else None
        if row.owner_ref and row.owner_ref != ref:
            self.by_ref.pop((community, ref), None)
            ref = row.owner_ref
            self.by_ref[(community, ref)] = owner_id
        status = current.contact_status if current else "reachable"
        known = self.contacts[owner_id]
        for channel, address in [("sms", p) for p in row.phones] + [("email", e) for e in row.emails]:
            if (channel, address) not in known:
                known.add((channel, address))
                self.new_contacts.append((owner_id, channel, address))
                self.contacted.add(owner_id)
                status = "reachable"  # a new way to reach an owner makes them reachable again
            if channel == "sms":
                self.by_phone.setdefault((community, address), owner_id)
        self.owners[owner_id] = _Owner(community, ref, row.owner_name, row.locale, row.key_owner, status)
        unit = (community, row.building, row.unit)
        unit_id = self.unit_ids.setdefault(unit, str(uuid.uuid4()))
        self.unit_owner[unit] = owner_id
        self.row_keys.append((owner_id, unit, (unit_id, row.fee_period)))

    def write(self, connection: Connection, rows: list[LedgerRow],
              report: ImportReport) -> set[tuple[str, str]]:
        """Insert and update what differs from the database and count each row.

        Return the (community, owner) pairs whose cases need a look.
        """
        now = datetime.now(UTC)
        changed_owners = self._write_owners(connection, now)
        changed_units, touched = self._write_units(connection)
        entries = [(row, key, self.entries_before.get(key)) for row, (_, _, key) in zip(rows, self.row_keys,
                                                                                          strict=True)]
        execute_many(connection, insert(ledger_entries), (
            {"id": str(uuid.uuid4()), "unit_id": key[0], "fee_period": key[1], "amount_due": row.amount_due,
             "due_date": row.due_date, "amount_paid": row.amount_paid}
            for row, key, before in entries if before is None))
        execute_many(connection, update(ledger_entries).where(ledger_entries.c.id == bindparam("b_id")), (
            {"b_id": before[0], "amount_due": row.amount_due, "due_date": row.due_date,
             "amount_paid": row.amount_paid}
            for row, _, before in entries if before is not None and before[1:] != row.fee))
        for (row, _, before), (owner_id, unit, _) in zip(entries, self.row_keys, strict=True):
            if before is None:
                report.inserted += 1
            elif before[1:] != row.fee or owner_id in changed_owners or unit in changed_units:
                report.updated += 1
            else:
                report.unchanged += 1
        return touched | {(owner.community, owner_id) for owner_id, owner in self.owners.items()}

    def _write_owners(self, connection: Connection, now: datetime) -> set[str]:
        before = self.owners_before
        fresh = [i for i in self.owners if i not in before]
        changed = [i for i, o in self.owners.items() if i in before and o != before[i]]
        by_id = update(owners).where(owners.c.id == bindparam("b_id"))
        # Owner codes that move between owners must never collide mid-update: clear them first.
        execute_many(connection, by_id.values(external_ref=None),
                      ({"b_id": i} for i in changed if self.owners[i].ref != before[i].ref))
        execute_many(connection, by_id, ({"b_id": i, **self._columns(i)} for i in changed))
        execute_many(connection, insert(owners), (
            {"id": i, "community": self.owners[i].community, **self._columns(i), "broken_promises": 0,
             "created_at": now} for i in fresh))
        execute_many(connection, insert(owner_contacts), (
            {"owner_id": owner_id, "channel": channel, "address": address, "status": "ok", "updated_at": now}
            for owner_id, channel, address in self.new_contacts))
        return set(fresh) | set(changed) | self.contacted

    def _columns(self, owner_id: str) -> dict:
        owner = self.owners[owner_id]
        return {"external_ref": owner.ref, "name": owner.name, "locale": owner.locale,
                "key_owner": owner.key_owner, "contact_status": owner.contact_status}

    def _write_units(self, connection: Connection) -> tuple[set, set[tuple[str, str]]]:
        fresh, moved, touched = [], [], set()
        for unit, owner_id in self.unit_owner.items():
            before = self.units_before.get(unit)
            if before is None:
                fresh.append(unit)
            elif before[1] != owner_id:
                moved.append(unit)
                touched.add((unit[0], before[1]))  # the previous owner's arrears change too
        execute_many(connection, insert(units), (
            {"id": self.unit_ids[u], "community": u[0], "building": u[1], "number": u[2],
             "owner_id": self.unit_owner[u]} for u in fresh))
        execute_many(connection, update(units).where(units.c.id == bindparam("b_id")), (
            {"b_id": self.units_before[u][0], "owner_id": self.unit_owner[u]} for u in moved))
        return set(fresh) | set(moved), touched


def apply_ledger(connection: Connection, rows: list[LedgerRow], known: dict[str, Community], actor: str,
                 report: ImportReport) -> None:
    names = sorted({row.community for row in rows})
    plan = LedgerPlan(connection, names, {row.fee_period for row in rows})
    for row in rows:
        plan.add(row)
    touched: dict[str, list[str]] = defaultdict(list)
    for community, owner_id in sorted(plan.write(connection, rows, report)):
        touched[community].append(owner_id)
    refresh_cases(connection, touched, known, actor, report)
