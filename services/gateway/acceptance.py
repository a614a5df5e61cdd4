"""Accept a provider's webhook once: a receipt and its event commit together, or neither."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from services.gateway.tables import outbox, webhook_receipts
from shared.envelope import Envelope
from shared.outbox import add_to_outbox


def accept_once(engine: Engine, key: str, event: Envelope, *more: Envelope) -> bool:
    """Store the event(s) for relay unless `key` was accepted before; True if it is new."""
    with engine.begin() as connection:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        fresh = connection.execute(
            insert(webhook_receipts)
            .values(key=key, message_id=event.id, received_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(webhook_receipts.c.key)
        ).first()
        if fresh is not None:
            add_to_outbox(connection, outbox, event, *more)
        return fresh is not None
