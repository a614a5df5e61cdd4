"""What cases does when staff open a case, and which handler takes each event from the bus."""
from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, select

from services.cases import accounts, deliveries, domain, register, replies
from services.cases.reply_form_answers import on_form_submitted
from services.cases.tables import communities

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class UnknownCommunity(LookupError):
    pass


def open_case(connection: Connection, command: domain.OpenCase, opened_by: str, today: date) -> str:
    """Register the owner, unit and overdue amount, then open (or update) the owner's case."""
    if connection.execute(select(communities.c.id).where(communities.c.id == command.community)).first() is None:
        raise UnknownCommunity(command.community)
    owner = command.owner
    owner_id = register.upsert_owner(connection, register.OwnerRecord(
        community=command.community, name=owner.name, locale=owner.locale, key_owner=owner.key_owner,
        phones=(owner.phone,) if owner.phone else (), emails=(owner.email,) if owner.email else (),
    ))
    unit = register.UnitRecord(command.community, command.building, command.unit_number)
    unit_id = register.upsert_unit(connection, unit, owner_id)
    register.upsert_ledger(connection, unit_id, register.LedgerRecord(
        unit=unit, fee_period=command.fee_period or f"manual-{today.isoformat()}",
        amount_due=command.amount_owed, due_date=command.due_date or today - timedelta(days=1),
    ))
    case_id = accounts.refresh_case(connection, owner_id, command.community, today, opened_by)
    if case_id is None:
        raise ValueError("nothing is overdue yet: the due date is today or later")
    return case_id


EVENT_HANDLERS = {
    "message.sent": deliveries.on_message_sent,
    "message.failed": deliveries.on_message_failed,
    "delivery.reported": deliveries.on_delivery_reported,
    "owner.replied": replies.on_owner_replied,
    "suppression.changed": replies.on_suppression_changed,
    "form.submitted": on_form_submitted,
}
