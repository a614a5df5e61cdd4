"""Promises to pay: a date agreed with the owner pauses reminders until then (杜绝拖)."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, insert, select, update

from services.cases.tables import cases, outbox, promises
from shared.envelope import new_event
from shared.outbox import add_to_outbox

SOURCES = ("sms", "email", "staff", "form")


class PromiseRefused(ValueError):
    """The promise cannot be recorded (closed case, date in the past, ...)."""


def record_promise(connection: Connection, case_id: str, promised_date: date, amount: Decimal | None,
                   source: str, today: date) -> str:
    """Record a dated promise; a newer promise replaces the open one."""
    case = connection.execute(select(cases).where(cases.c.id == case_id)).first()
    if case is None or case.status != "open":
        raise PromiseRefused("the case is not open")
    if promised_date < today:
        raise PromiseRefused("the promised date is in the past")
    if amount is not None and amount <= 0:
        raise PromiseRefused("the promised amount must be positive")
    connection.execute(
        update(promises).where(promises.c.case_id == case_id, promises.c.status == "open")
        .values(status="replaced", resolved_on=today)
    )
    promise_id = str(uuid.uuid4())
    connection.execute(insert(promises).values(
        id=promise_id, case_id=case_id, promised_date=promised_date, amount=amount, source=source,
        status="open", owed_when_made=case.amount_owed, created_at=datetime.now(UTC),
    ))
    add_to_outbox(connection, outbox, new_event("promise.recorded", {
        "promise_id": promise_id, "case_id": case_id, "owner_id": case.owner_id,
        "promised_date": promised_date, "amount": amount, "source": source,
    }))
    return promise_id
