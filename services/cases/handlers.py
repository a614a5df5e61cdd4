"""What cases does: open a case, and record what the bus tells it about messages and replies."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import Connection, case, insert, or_, select, update

from services.cases import domain
from services.cases.tables import case_messages, cases, outbox, owner_replies, owners
from shared.envelope import Envelope, new_event
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def open_case(connection: Connection, command: domain.OpenCase, opened_by: str) -> str:
    """Create the owner (or update the one with the same phone in the community) and the case.

    The case, its `case.opened` event and the first reminder request commit together.
    """
    owner_id = _find_or_add_owner(connection, command)
    case_id = str(uuid.uuid4())
    connection.execute(
        insert(cases).values(
            id=case_id, owner_id=owner_id, community=command.community,
            amount_owed=command.amount_owed, status="open", stage=domain.FIRST_STAGE,
            opened_by=opened_by, opened_at=_now(),
        )
    )
    events = [
        new_event("case.opened", {
            "case_id": case_id, "owner_id": owner_id, "community": command.community,
            "amount_owed": command.amount_owed,
        })
    ]
    channels = command.reminder_channels()
    if channels:
        events.append(new_event("reminder.requested", {
            "notification_id": str(uuid.uuid4()),
            "case_id": case_id,
            "stage": domain.FIRST_STAGE,
            "channels": channels,
            "template": domain.FIRST_STAGE,
            "recipient": {
                "owner_id": owner_id, "name": command.owner.name, "phone": command.owner.phone,
                "email": command.owner.email, "locale": command.owner.locale,
            },
            "context": {"amount_owed": str(command.amount_owed), "community": command.community},
        }))
    add_to_outbox(connection, outbox, *events)
    return case_id


def _find_or_add_owner(connection: Connection, command: domain.OpenCase) -> str:
    owner = command.owner
    if owner.phone:
        existing = connection.execute(
            select(owners.c.id).where(
                owners.c.community == command.community, owners.c.phone == owner.phone
            )
        ).scalar()
        if existing:
            # The newest details staff typed are the ones reminders and reply matching use.
            connection.execute(
                update(owners).where(owners.c.id == existing).values(
                    name=owner.name, locale=owner.locale,
                    **({"email": owner.email} if owner.email else {}),
                )
            )
            return existing
    owner_id = str(uuid.uuid4())
    connection.execute(
        insert(owners).values(
            id=owner_id, community=command.community, name=owner.name, phone=owner.phone,
            email=owner.email, locale=owner.locale, created_at=_now(),
        )
    )
    return owner_id


def _record_message_status(connection: Connection, key: dict, status: str, **fields) -> None:
    row = connection.execute(
        select(case_messages.c.status).where(
            case_messages.c.notification_id == key["notification_id"],
            case_messages.c.channel == key["channel"],
        )
    ).first()
    values = {k: v for k, v in fields.items() if v is not None}
    if row is None:
        connection.execute(
            insert(case_messages).values(**key, status=status, updated_at=_now(), **values)
        )
        return
    connection.execute(
        update(case_messages)
        .where(
            case_messages.c.notification_id == key["notification_id"],
            case_messages.c.channel == key["channel"],
        )
        .values(status=domain.later_status(row.status, status), updated_at=_now(), **values)
    )


def on_message_sent(connection: Connection, event: Envelope) -> None:
    p = event.payload
    _record_message_status(
        connection, {"notification_id": str(p["notification_id"]), "channel": p["channel"]}, "sent",
        case_id=p["case_id"], provider=p["provider"], provider_message_id=p["provider_message_id"],
    )


def on_message_failed(connection: Connection, event: Envelope) -> None:
    p = event.payload
    _record_message_status(
        connection, {"notification_id": str(p["notification_id"]), "channel": p["channel"]}, "failed",
        case_id=p["case_id"], provider=p["provider"], error_code=p["error_code"],
    )


def on_delivery_reported(connection: Connection, event: Envelope) -> None:
    p = event.payload
    if p["notification_id"] is not None:
        _record_message_status(
            connection, {"notification_id": str(p["notification_id"]), "channel": p["channel"]},
            p["status"], provider=p["provider"], provider_message_id=p["provider_message_id"],
            error_code=p["error_code"],
        )
        return
    row = connection.execute(
        select(case_messages.c.notification_id, case_messages.c.channel).where(
            case_messages.c.provider_message_id == p["provider_message_id"]
        )
    ).first()
    if row is None:
        log.info("delivery report for a message we do not know", extra={"provider": p["provider"]})
        return
    _record_message_status(connection, row._asdict(), p["status"], error_code=p["error_code"])


def on_owner_replied(connection: Connection, event: Envelope) -> None:
    """File the reply against the owner's newest open case (or unmatched, for staff to see)."""
    p = event.payload
    owner_id, case_id = _match_sender(connection, p["sender"])
    connection.execute(
        insert(owner_replies).values(
            id=str(uuid.uuid4()), provider_message_id=p["provider_message_id"],
            channel=p["channel"], owner_id=owner_id, case_id=case_id, body=p["body"],
            received_at=p["received_at"],
        )
    )


def _match_sender(connection: Connection, sender: str) -> tuple[str | None, str | None]:
    row = connection.execute(
        select(cases.c.owner_id, cases.c.id)
        .join(owners, owners.c.id == cases.c.owner_id)
        .where(or_(owners.c.phone == sender, owners.c.email == sender.lower()))
        .order_by(case((cases.c.status == "open", 0), else_=1), cases.c.opened_at.desc())
        .limit(1)
    ).first()
    return (row.owner_id, row.id) if row else (None, None)


EVENT_HANDLERS = {
    "message.sent": on_message_sent,
    "message.failed": on_message_failed,
    "delivery.reported": on_delivery_reported,
    "owner.replied": on_owner_replied,
}
