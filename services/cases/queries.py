"""Read side of cases: what staff see."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from services.cases.tables import (
    case_messages,
    cases,
    owner_contacts,
    owner_replies,
    owners,
    promises,
    stage_moves,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _all(connection: Connection, query) -> list[dict]:
    return [dict(row) for row in connection.execute(query).mappings()]


def case_detail(connection: Connection, case_id: str) -> dict | None:
    row = connection.execute(select(cases).where(cases.c.id == case_id)).mappings().first()
    if row is None:
        return None
    detail = dict(row)
    owner = dict(connection.execute(select(owners).where(owners.c.id == row["owner_id"])).mappings().one())
    owner["contacts"] = _all(connection, select(owner_contacts).where(owner_contacts.c.owner_id == owner["id"])
                             .order_by(owner_contacts.c.channel, owner_contacts.c.address))
    detail["owner"] = owner
    detail["stages"] = _all(connection, select(stage_moves).where(stage_moves.c.case_id == case_id)
                            .order_by(stage_moves.c.entered_on))
    detail["messages"] = _all(connection, select(case_messages).where(case_messages.c.case_id == case_id)
                              .order_by(case_messages.c.updated_at))
    detail["replies"] = _all(connection, select(owner_replies).where(owner_replies.c.case_id == case_id)
                             .order_by(owner_replies.c.received_at))
    detail["promises"] = _all(connection, select(promises).where(promises.c.case_id == case_id)
                              .order_by(promises.c.created_at))
    return detail


def case_page(connection: Connection, communities: tuple[str, ...] | None, args: dict):
    """One page of cases, newest first; `communities=None` means all of them."""
    conditions = []
    if communities is not None:
        conditions.append(cases.c.community.in_(communities))
    for name in ("status", "stage", "community"):
        if args.get(name):
            conditions.append(cases.c[name] == args[name])
    query = select(cases.c.id, cases.c.community, cases.c.owner_id, cases.c.amount_owed, cases.c.status,
                   cases.c.stage, cases.c.opened_at).where(*conditions)
    total = connection.execute(select(func.count()).select_from(cases).where(*conditions)).scalar_one()
    rows = _all(connection, query.order_by(cases.c.opened_at.desc(), cases.c.id)
                .limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"]))
    return rows, total


def promise(connection: Connection, promise_id: str) -> dict:
    return dict(connection.execute(select(promises).where(promises.c.id == promise_id)).mappings().one())
