"""Opening, updating and closing the cases of many owners at once after a ledger import."""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, func, insert, select, update

from services.cases import accounts
from services.cases.contacts import usable_contacts
from services.cases.imports.batches import chunks, execute_many
from services.cases.imports.checking import Community
from services.cases.imports.columns import CENT
from services.cases.imports.report import ImportReport
from services.cases.reminders import reminder_requests
from services.cases.tables import cases, ledger_entries, outbox, owners, stage_moves, units
from shared.envelope import new_event
from shared.outbox import add_to_outbox


def refresh_cases(connection: Connection, touched: dict[str, list[str]], known: dict[str, Community],
                  actor: str, report: ImportReport) -> None:
    """accounts.refresh_case for many owners at once: open, update or close each one's case."""
    same_day: dict[date, list[str]] = defaultdict(list)
    for community in touched:
        same_day[known[community].today].append(community)
    for today, names in same_day.items():  # one pass per calendar day, not one per community
        arrears = {(row[0], row[1]): (Decimal(row[2]).quantize(CENT), row[3]) for row in connection.execute(
            select(units.c.community, units.c.owner_id,
                   func.sum(ledger_entries.c.amount_due - ledger_entries.c.amount_paid),
                   func.min(ledger_entries.c.due_date))
            .join(units, units.c.id == ledger_entries.c.unit_id)
            .where(units.c.community.in_(names), ledger_entries.c.due_date < today,
                   ledger_entries.c.amount_paid < ledger_entries.c.amount_due)
            .group_by(units.c.community, units.c.owner_id))}
        open_cases = {(row.community, row.owner_id): row for row in connection.execute(
            select(cases.c.id, cases.c.community, cases.c.owner_id, cases.c.amount_owed, cases.c.due_date)
            .where(cases.c.community.in_(names), cases.c.status == "open"))}
        for community in names:
            _refresh(connection, community, touched[community], arrears, open_cases, known[community], actor,
                     report)


def _refresh(connection: Connection, community: str, owner_ids: list[str], arrears: dict, open_cases: dict,
             known: Community, actor: str, report: ImportReport) -> None:
    to_open, changed, to_close = [], [], []
    for owner_id in owner_ids:
        owed, oldest = arrears.get((community, owner_id), (accounts.ZERO, None))
        case = open_cases.get((community, owner_id))
        if case is None:
            if owed > accounts.ZERO:
                to_open.append((owner_id, owed, oldest))
        elif owed <= accounts.ZERO:
            to_close.append(case)
        elif (case.amount_owed, case.due_date) != (owed, oldest):
            changed.append({"b_id": case.id, "amount_owed": owed, "due_date": oldest})
    execute_many(connection, update(cases).where(cases.c.id == bindparam("b_id")), changed)
    for batch in chunks(to_open):
        _open_cases(connection, community, batch, known, actor)
    for batch in chunks(to_close):
        _close_cases(connection, batch)
    report.cases_opened += len(to_open)
    report.cases_updated += len(changed)
    report.cases_closed += len(to_close)


def _open_cases(connection: Connection, community: str, batch: list[tuple], known: Community,
                actor: str) -> None:
    today, first, now = known.today, known.first_stage, datetime.now(UTC)
    ids = [owner_id for owner_id, _, _ in batch]
    people = {row.id: row for row in connection.execute(
        select(owners.c.id, owners.c.name, owners.c.locale).where(owners.c.id.in_(ids)))}
    contacts = usable_contacts(connection, ids)
    new_cases, moves, events = [], [], []
    for owner_id, owed, oldest in batch:
        case_id = str(uuid.uuid4())
        new_cases.append({"id": case_id, "owner_id": owner_id, "community": community, "amount_owed": owed,
                          "amount_recovered": accounts.ZERO, "status": "open", "stage": first.name,
                          "stage_entered_on": today, "due_date": oldest, "last_swept_on": today,
                          "opened_by": actor, "opened_at": now})
        moves.append({"case_id": case_id, "stage": first.name, "entered_on": today, "reason": "opened"})
        events.append(new_event("case.opened", {"case_id": case_id, "owner_id": owner_id,
                                                "community": community, "amount_owed": owed}))
        # As accounts.refresh_case does: the first reminder goes out with the opening.
        events.extend(reminder_requests(
            case_id=case_id, community=community, owner_id=owner_id, name=people[owner_id].name,
            locale=people[owner_id].locale, contacts=contacts.get(owner_id, {}), stage=first.name,
            template=first.template, channels=first.channels, sends=first.sends_per_day,
            amount_owed=owed, today=today,
        ))
    connection.execute(insert(cases), new_cases)
    connection.execute(insert(stage_moves), moves)
    add_to_outbox(connection, outbox, *events)


def _close_cases(connection: Connection, batch: list) -> None:
    connection.execute(
        update(cases).where(cases.c.id == bindparam("b_id")),
        [{"b_id": case.id, "status": "closed", "closed_reason": "paid", "closed_at": datetime.now(UTC),
          "amount_owed": accounts.ZERO} for case in batch],
    )
    add_to_outbox(connection, outbox, *[new_event("case.closed", {
        "case_id": case.id, "owner_id": case.owner_id, "reason": "paid"}) for case in batch])
