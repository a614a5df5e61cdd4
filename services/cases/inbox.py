"""The staff inbox: owners' questions the FAQ did not answer, kept until a person has."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from services.cases.tables import staff_inbox

STATUSES = ("open", "answered")


class AlreadyAnswered(ValueError):
    pass


def keep_question(connection: Connection, *, reply_row_id: str, reply: dict, owner_id: str | None,
                  case_id: str | None, community: str | None) -> str:
    """File an owner's question for staff; a question whose owner is unknown is kept for admins."""
    item_id = str(uuid.uuid4())
    connection.execute(insert(staff_inbox).values(
        id=item_id, reply_id=reply_row_id, community=community, owner_id=owner_id, case_id=case_id,
        channel=reply["channel"], question=reply["body"], language=reply.get("language"), status="open",
        received_at=reply["received_at"],
    ))
    return item_id


def mark_answered(connection: Connection, item_id: str, staff: str, note: str | None,
                  now: datetime | None = None) -> None:
    """Record that a person has answered the question (by phone, at the desk, ...)."""
    status = connection.execute(select(staff_inbox.c.status).where(staff_inbox.c.id == item_id)).scalar()
    if status == "answered":
        raise AlreadyAnswered(item_id)
    connection.execute(update(staff_inbox).where(staff_inbox.c.id == item_id, staff_inbox.c.status == "open")
                       .values(status="answered", answered_at=now or datetime.now(UTC), answered_by=staff,
                               note=note))
