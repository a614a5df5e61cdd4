"""How the notifier reacts to each event it consumes."""
from __future__ import annotations

from sqlalchemy import Connection, Engine

from services.notifier import ledger
from services.notifier.sending import ReminderSender
from services.notifier.tables import inbox
from shared.dispatch import InboxDispatcher
from shared.envelope import Envelope


def on_delivery_reported(connection: Connection, event: Envelope) -> None:
    p = event.payload
    notification_id = str(p["notification_id"]) if p["notification_id"] else None
    ledger.record_delivery(connection, notification_id, p["provider_message_id"], p["channel"],
                           p["status"], p["error_code"])


def event_handler(engine: Engine, sender: ReminderSender):
    """One callable for the consumer: sends go through the ledger, the rest through the inbox."""
    dispatch = InboxDispatcher(engine, inbox, {"delivery.reported": on_delivery_reported})

    def handle(event: Envelope) -> None:
        # Sends go through the send ledger, keyed by notification id: that makes them idempotent.
        if event.type == "reminder.requested":
            sender.send(event.payload)
        elif event.type == "case.escalated":
            if event.payload["notice"] is not None:
                sender.send(event.payload["notice"])
        else:
            dispatch(event)

    return handle
