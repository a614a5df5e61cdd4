"""An owner's account in a community: what is owed, payments against it, and the case that follows.

One open case per owner and community carries everything overdue on the owner's units. A
payment is allocated to the oldest unpaid fee period first; a case whose amount reaches zero is
closed and the notifier is told to cancel whatever it still had queued for the owner.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, func, insert, select, update

from services.cases import ladder
from services.cases.contacts import usable_contacts
from services.cases.reminders import reminder_requests
from services.cases.tables import (
    case_assignments,
    cases,
    communities,
    ledger_entries,
    outbox,
    owners,
    payments,
    promises,
    stage_moves,
    units,
)
from shared.envelope import new_event
from shared.outbox import add_to_outbox

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Arrears:
    owed: Decimal
    oldest_due: date | None


def overdue(connection: Connection, owner_id: str, community: str, today: date) -> Arrears:
    """What the owner owes in the community for periods already past due."""
    row = connection.execute(
        select(
            func.coalesce(func.sum(ledger_entries.c.amount_due - ledger_entries.c.amount_paid), 0),
            func.min(ledger_entries.c.due_date),
        )
        .join(units, units.c.id == ledger_entries.c.unit_id)
        .where(units.c.owner_id == owner_id, units.c.community == community,
               ledger_entries.c.due_date < today,  # the due date itself is still on time
               ledger_entries.c.amount_paid < ledger_entries.c.amount_due)
    ).one()
    return Arrears(Decimal(row[0]).quantize(Decimal("0.01")), row[1])


def open_case_row(connection: Connection, owner_id: str, community: str):
    return connection.execute(
        select(cases).where(cases.c.owner_id == owner_id, cases.c.community == community,
                            cases.c.status == "open")
    ).first()


def refresh_case(connection: Connection, owner_id: str, community: str, today: date, actor: str) -> str | None:
    """Bring the owner's case in line with the ledger: open, update or close it. Return its id."""
    arrears = overdue(connection, owner_id, community, today)
    case = open_case_row(connection, owner_id, community)
    if case is None:
        if arrears.owed <= ZERO:
            return None
        return _open(connection, owner_id, community, arrears, today, actor)
    if arrears.owed <= ZERO:
        close_case(connection, case.id, owner_id, "paid")
        return case.id
    connection.execute(
        update(cases).where(cases.c.id == case.id)
        .values(amount_owed=arrears.owed, due_date=arrears.oldest_due)
    )
    return case.id


def _open(connection: Connection, owner_id: str, community: str, arrears: Arrears, today: date,
          actor: str) -> str:
    case_id = str(uuid.uuid4())
    overrides = connection.execute(select(communities.c.ladder).where(communities.c.id == community)).scalar()
    first = ladder.first_stage(ladder.ladder_for(overrides))  # the community's own first stage
    # The first reminder goes out with the opening, so today's sweep has nothing more to do.
    connection.execute(insert(cases).values(
        id=case_id, owner_id=owner_id, community=community, amount_owed=arrears.owed,
        amount_recovered=ZERO, status="open", stage=first.name, stage_entered_on=today,
        due_date=arrears.oldest_due, last_swept_on=today, opened_by=actor, opened_at=datetime.now(UTC),
    ))
    connection.execute(insert(stage_moves).values(case_id=case_id, stage=first.name, entered_on=today,
                                                  reason="opened"))
    owner = connection.execute(select(owners.c.name, owners.c.locale).where(owners.c.id == owner_id)).one()
    add_to_outbox(connection, outbox, new_event("case.opened", {
        "case_id": case_id, "owner_id": owner_id, "community": community, "amount_owed": arrears.owed,
    }), *reminder_requests(
        case_id=case_id, community=community, owner_id=owner_id, name=owner.name, locale=owner.locale,
        contacts=usable_contacts(connection, [owner_id]).get(owner_id, {}), stage=first.name,
        template=first.template, channels=first.channels, sends=first.sends_per_day,
        amount_owed=arrears.owed, today=today,
    ))
    return case_id


def close_case(connection: Connection, case_id: str, owner_id: str, reason: str) -> None:
    connection.execute(
        update(cases).where(cases.c.id == case_id)
        .values(status="closed", closed_reason=reason, closed_at=datetime.now(UTC), amount_owed=ZERO
                if reason == "paid" else cases.c.amount_owed)
    )
    # The collector's assignment ends with the case, so workloads and rankings count open work only.
    connection.execute(update(case_assignments).where(case_assignments.c.case_id == case_id,
                                                      case_assignments.c.ended_at.is_(None))
                       .values(ended_at=datetime.now(UTC)))
    add_to_outbox(connection, outbox, new_event("case.closed", {
        "case_id": case_id, "owner_id": owner_id, "reason": reason,
    }))


@dataclass(frozen=True)
class PaymentIn:
    community: str
    unit_id: str
    amount: Decimal
    paid_on: date
    external_ref: str
    source: str


def record_payment(connection: Connection, payment: PaymentIn, today: date, actor: str) -> str | None:
    """Apply a payment (once per receipt number); return its id, or None if already recorded."""
    if connection.execute(
        select(payments.c.id).where(payments.c.community == payment.community,
                                    payments.c.external_ref == payment.external_ref)
    ).first():
        return None
    owner_id = connection.execute(select(units.c.owner_id).where(units.c.id == payment.unit_id)).scalar_one()
    _allocate(connection, payment.unit_id, payment.amount)
    case = open_case_row(connection, owner_id, payment.community)
    payment_id = str(uuid.uuid4())
    connection.execute(insert(payments).values(
        id=payment_id, community=payment.community, external_ref=payment.external_ref,
        unit_id=payment.unit_id, case_id=case.id if case else None, amount=payment.amount,
        paid_on=payment.paid_on, source=payment.source, created_at=datetime.now(UTC),
    ))
    if case is not None:
        connection.execute(update(cases).where(cases.c.id == case.id)
                           .values(amount_recovered=cases.c.amount_recovered + payment.amount))
        _settle_promise(connection, case, payment.paid_on)
    refresh_case(connection, owner_id, payment.community, today, actor)
    after = overdue(connection, owner_id, payment.community, today).owed
    add_to_outbox(connection, outbox, new_event("payment.recorded", {
        "payment_id": payment_id, "case_id": case.id if case else None, "owner_id": owner_id,
        "community": payment.community, "amount": payment.amount, "paid_on": payment.paid_on,
        "amount_owed_after": after,
    }))
    return payment_id


def _allocate(connection: Connection, unit_id: str, amount: Decimal) -> None:
    """Pay the oldest unpaid fee periods of the unit first."""
    remaining = amount
    entries = connection.execute(
        select(ledger_entries.c.id, ledger_entries.c.amount_due, ledger_entries.c.amount_paid)
        .where(ledger_entries.c.unit_id == unit_id,
               ledger_entries.c.amount_paid < ledger_entries.c.amount_due)
        .order_by(ledger_entries.c.due_date, ledger_entries.c.fee_period)
    ).all()
    for entry in entries:
        if remaining <= ZERO:
            break
        applied = min(remaining, entry.amount_due - entry.amount_paid)
        connection.execute(update(ledger_entries).where(ledger_entries.c.id == entry.id)
                           .values(amount_paid=entry.amount_paid + applied))
        remaining -= applied


def _settle_promise(connection: Connection, case, paid_on: date) -> None:
    """A promise is kept when, by its date, the owner has paid what they promised (or all)."""
    promise = connection.execute(
        select(promises).where(promises.c.case_id == case.id, promises.c.status == "open")
    ).first()
    if promise is None or paid_on > promise.promised_date:
        return
    paid_since = connection.execute(
        select(func.coalesce(func.sum(payments.c.amount), 0)).where(
            payments.c.case_id == case.id,
            payments.c.created_at >= promise.created_at,
        )
    ).scalar_one()
    target = promise.amount if promise.amount is not None else promise.owed_when_made
    if Decimal(paid_since) >= target:
        connection.execute(update(promises).where(promises.c.id == promise.id)
                           .values(status="kept", resolved_on=paid_on))
        add_to_outbox(connection, outbox, new_event("promise.kept", {
            "promise_id": promise.id, "case_id": case.id, "owner_id": case.owner_id,
            "promised_date": promise.promised_date,
        }))
