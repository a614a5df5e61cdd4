"""Applying payments: each receipt once, through accounts.record_payment."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Connection, select

from services.cases import accounts
from services.cases.imports.batches import chunks
from services.cases.imports.checking import Community, PaymentRow
from services.cases.imports.report import BadRow, ImportReport
from services.cases.tables import cases, payments, units


class UnitPayment(NamedTuple):
    row: PaymentRow
    unit_id: str
    owner_id: str


def with_units(connection: Connection, rows: list[PaymentRow], report: ImportReport) -> list[UnitPayment]:
    """Pair each payment with its unit; a payment for a unit we do not know is a bad row."""
    names = sorted({row.community for row in rows})
    found = {(r.community, r.building, r.number): (r.id, r.owner_id) for r in connection.execute(
        select(units.c.id, units.c.community, units.c.building, units.c.number, units.c.owner_id)
        .where(units.c.community.in_(names)))} if names else {}
    paired = []
    for row in rows:
        unit = found.get((row.community, row.building, row.unit))
        if unit is None:
            report.bad_rows.append(BadRow(row.line, {"unit": ["No such unit."]}))
        else:
            paired.append(UnitPayment(row, *unit))
    return paired


def apply_payments(connection: Connection, paid: list[UnitPayment], known: dict[str, Community], actor: str,
                   report: ImportReport) -> None:
    """Record each new receipt as accounts.record_payment does; a receipt seen before is a duplicate."""
    receipts: dict[str, set[str]] = defaultdict(set)
    for payment in paid:
        receipts[payment.row.community].add(payment.row.receipt)
    recorded = set()
    for community, refs in receipts.items():
        for batch in chunks(sorted(refs)):
            recorded.update((community, ref) for ref in connection.execute(
                select(payments.c.external_ref).where(payments.c.community == community,
                                                      payments.c.external_ref.in_(batch))).scalars())
    owner_ids = sorted({p.owner_id for p in paid})
    before = _open_case_amounts(connection, owner_ids)
    for payment in paid:
        row = payment.row
        if (row.community, row.receipt) in recorded:
            report.unchanged += 1
            continue
        recorded.add((row.community, row.receipt))
        accounts.record_payment(connection, accounts.PaymentIn(
            community=row.community, unit_id=payment.unit_id, amount=row.amount, paid_on=row.paid_on,
            external_ref=row.receipt, source="import",
        ), known[row.community].today, actor)
        report.inserted += 1
    after = _open_case_amounts(connection, owner_ids)
    report.cases_opened += len(after.keys() - before.keys())
    report.cases_closed += len(before.keys() - after.keys())
    report.cases_updated += sum(1 for case_id in before.keys() & after.keys()
                                if before[case_id] != after[case_id])


def _open_case_amounts(connection: Connection, owner_ids: list[str]) -> dict[str, Decimal]:
    amounts = {}
    for batch in chunks(owner_ids):
        amounts.update(connection.execute(select(cases.c.id, cases.c.amount_owed).where(
            cases.c.owner_id.in_(batch), cases.c.status == "open")).all())
    return amounts
