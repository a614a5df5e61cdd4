"""The send ledger: claim a (notification, channel) before calling a provider, record after.

The claim is committed before the provider call, so a crash at any point leaves evidence:
a row still `claimed` when the message comes round again means a call may have gone out,
and it is marked `unknown` for reconciliation instead of being sent a second time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier.tables import send_ledger

DONE = frozenset({"sent", "failed", "unknown"})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claim:
    granted: bool
    status: str


def claim(connection: Connection, notification_id: str, channel: str, case_id: str, owner_id: str) -> Claim:
    """Take the right to call the provider for this (notification, channel), at most once."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    now = _now()
    inserted = connection.execute(
        insert(send_ledger).values(
            notification_id=notification_id, channel=channel, case_id=case_id, owner_id=owner_id,
            status="claimed", attempts=1, claimed_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["notification_id", "channel"])
        .returning(send_ledger.c.status)
    ).first()
    if inserted is not None:
        return Claim(True, "claimed")
    key = (send_ledger.c.notification_id == notification_id) & (send_ledger.c.channel == channel)
    status = connection.execute(select(send_ledger.c.status).where(key).with_for_update()).scalar_one()
    if status == "retry":
        connection.execute(
            update(send_ledger).where(key).values(
                status="claimed", attempts=send_ledger.c.attempts + 1, claimed_at=now, updated_at=now
            )
        )
        return Claim(True, "claimed")
    if status == "claimed":
        # A previous attempt died between claiming and recording: it may have sent.
        record(connection, notification_id, channel, "unknown", error_code="interrupted")
        return Claim(False, "unknown")
    return Claim(False, status)


def record(connection: Connection, notification_id: str, channel: str, status: str, **fields) -> None:
    where = (send_ledger.c.notification_id == notification_id) & (send_ledger.c.channel == channel)
    if status == "unknown":
        # A delivery report may have confirmed the send while the call was still timing out.
        where &= send_ledger.c.status != "sent"
    connection.execute(update(send_ledger).where(where).values(status=status, updated_at=_now(), **fields))


def record_delivery(connection: Connection, notification_id: str | None, provider_message_id: str,
                    channel: str, status: str, error_code: str | None) -> int:
    """Note a provider's delivery report on the ledger row; return rows touched."""
    where = send_ledger.c.provider_message_id == provider_message_id
    if notification_id:
        where = (send_ledger.c.notification_id == notification_id) & (send_ledger.c.channel == channel)
    return connection.execute(
        update(send_ledger).where(where).values(
            delivery_status=status, error_code=error_code or send_ledger.c.error_code, updated_at=_now()
        )
    ).rowcount


def mark_interrupted(connection: Connection, notification_id: str, channel: str) -> None:
    """A claim the process never came back to: it may have reached the provider."""
    connection.execute(
        update(send_ledger)
        .where((send_ledger.c.notification_id == notification_id) & (send_ledger.c.channel == channel),
               send_ledger.c.status == "claimed")
        .values(status="unknown", error_code="interrupted", updated_at=_now())
    )
