"""What happened to each message sent about a case, and what a failed delivery says about a contact."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from services.cases import domain
from services.cases.contacts import FAILED_DELIVERY, mark_contact, owner_of_case
from services.cases.tables import case_message_statuses, case_messages
from shared.envelope import Envelope

log = logging.getLogger(__name__)


def _record(connection: Connection, notification_id: str, channel: str, status: str,
            occurred_at: datetime | None = None, **fields) -> None:
    """The message's furthest status so far, and this report in its history."""
    key = (case_messages.c.notification_id == notification_id) & (case_messages.c.channel == channel)
    row = connection.execute(select(case_messages.c.status).where(key)).first()
    values = {k: v for k, v in fields.items() if v is not None}
    now = datetime.now(UTC)
    connection.execute(insert(case_message_statuses).values(
        notification_id=notification_id, channel=channel, status=status, error_code=fields.get("error_code"),
        occurred_at=occurred_at or now))
    if row is None:
        connection.execute(insert(case_messages).values(
            notification_id=notification_id, channel=channel, status=status, updated_at=now, **values))
        return
    connection.execute(update(case_messages).where(key).values(
        status=domain.later_status(row.status, status), updated_at=now, **values))


def _address_failed(connection: Connection, notification_id: str, channel: str, address: str | None,
                    reason: str) -> None:
    """A permanent failure means this phone or email does not work for the owner."""
    row = connection.execute(select(case_messages.c.case_id, case_messages.c.address).where(
        case_messages.c.notification_id == notification_id, case_messages.c.channel == channel)).first()
    address = address or (row.address if row else None)
    owner_id = owner_of_case(connection, row.case_id) if row and row.case_id else None
    if owner_id and address and channel in ("sms", "email"):
        mark_contact(connection, owner_id, channel, address, "bad", reason)


def on_message_sent(connection: Connection, event: Envelope) -> None:
    p = event.payload
    notification_id = str(p["notification_id"])
    _record(connection, notification_id, p["channel"], "sent", p["sent_at"], case_id=p["case_id"],
            provider=p["provider"], provider_message_id=p["provider_message_id"], address=p["address"])
    # A failure report that overtook this event could not be tied to the owner until now.
    status = connection.execute(select(case_messages.c.status).where(
        case_messages.c.notification_id == notification_id, case_messages.c.channel == p["channel"])).scalar()
    if status in FAILED_DELIVERY:
        _address_failed(connection, notification_id, p["channel"], p["address"], status)


def on_message_failed(connection: Connection, event: Envelope) -> None:
    p = event.payload
    notification_id = str(p["notification_id"])
    _record(connection, notification_id, p["channel"], "failed", case_id=p["case_id"],
            provider=p["provider"], error_code=p["error_code"], address=p["address"])
    if p["permanent"]:
        _address_failed(connection, notification_id, p["channel"], p["address"], f"error {p['error_code']}")


def on_delivery_reported(connection: Connection, event: Envelope) -> None:
    p = event.payload
    notification_id = str(p["notification_id"]) if p["notification_id"] else None
    channel = p["channel"]
    if notification_id is None:
        row = connection.execute(select(case_messages.c.notification_id, case_messages.c.channel).where(
            case_messages.c.provider_message_id == p["provider_message_id"])).first()
        if row is None:
            log.info("delivery report for a message we do not know", extra={"provider": p["provider"]})
            return
        notification_id, channel = row.notification_id, row.channel
    _record(connection, notification_id, channel, p["status"], p["reported_at"], provider=p["provider"],
            provider_message_id=p["provider_message_id"], error_code=p["error_code"], address=p["address"])
    # A "blocked" bounce is the receiving server refusing us, not a dead address.
    blocked = (p["error_code"] or "").startswith("blocked")
    if p["status"] in FAILED_DELIVERY and not blocked:
        _address_failed(connection, notification_id, channel, p["address"], p["status"])
