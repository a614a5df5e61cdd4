"""Read side of cases: what staff see."""
from __future__ import annotations

from sqlalchemy import Connection, func, select

from services.cases.tables import case_messages, cases, owner_replies, owners


def case_detail(connection: Connection, case_id: str) -> dict | None:
    row = connection.execute(select(cases).where(cases.c.id == case_id)).mappings().first()
    if row is None:
        return None
    detail = dict(row)
    detail["owner"] = dict(
        connection.execute(select(owners).where(owners.c.id == row["owner_id"])).mappings().one()
    )
    detail["messages"] = [
        dict(m) for m in connection.execute(
            select(case_messages).where(case_messages.c.case_id == case_id)
            .order_by(case_messages.c.updated_at)
        ).mappings()
    ]
    detail["replies"] = [
        dict(r) for r in connection.execute(
            select(owner_replies).where(owner_replies.c.case_id == case_id)
            .order_by(owner_replies.c.received_at)
        ).mappings()
    ]
    return detail


def case_page(connection: Connection, communities: tuple[str, ...] | None, page: int, per_page: int):
    """One page of cases, newest first; `communities=None` means all of them."""
    query = select(cases.c.id, cases.c.community, cases.c.amount_owed, cases.c.status,
                   cases.c.stage, cases.c.opened_at)
    count = select(func.count()).select_from(cases)
    if communities is not None:
        query = query.where(cases.c.community.in_(communities))
        count = count.where(cases.c.community.in_(communities))
    rows = connection.execute(
        query.order_by(cases.c.opened_at.desc(), cases.c.id).limit(per_page).offset((page - 1) * per_page)
    ).mappings().all()
    return [dict(r) for r in rows], connection.execute(count).scalar_one()
