"""Accept a provider's webhook once: its receipts, its events and the auto-replies they call for
commit together, or none of them does."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite

from services.gateway.autoreply import auto_replies
from services.gateway.tables import outbox, webhook_receipts
from shared.envelope import Envelope
from shared.outbox import add_to_outbox


class _SeenBefore(Exception):
    """One of the delivery's keys was accepted before: undo the receipts written so far."""


def accept_once(engine: Engine, key: str | tuple[str, ...], event: Envelope, *more: Envelope) -> bool:
    """Store the event(s) for relay unless any of the `key`s was accepted before; True if it is new.

    A delivery may have several keys (Twilio's MessageSid and its I-Twilio-Idempotency-Token):
    a retry that repeats any one of them is the same delivery.
    """
    return accept_read(engine, key, lambda _connection: (event, *more))


def accept_read(engine: Engine, key: str | tuple[str, ...],
                read: Callable[[Connection], Sequence[Envelope]]) -> bool:
    """accept_once for events that need the store to be built (an owner's reply, read in the
    sender's timezone and matched to the FAQ): reading and storing share one transaction, so
    the hot path checks out one connection and commits once."""
    keys = (key,) if isinstance(key, str) else tuple(dict.fromkeys(key))
    try:
        with engine.begin() as connection:
            event, *more = read(connection)
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            now = datetime.now(UTC)
            fresh = connection.execute(
                insert(webhook_receipts)
                .values([{"key": each, "message_id": event.id, "received_at": now} for each in keys])
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(webhook_receipts.c.key)
            ).all()
            if len(fresh) < len(keys):
                raise _SeenBefore
            answers = [reply for e in (event, *more) if e.type == "owner.replied"
                       for reply in auto_replies(connection, e.payload)]
            add_to_outbox(connection, outbox, event, *more, *answers)
    except _SeenBefore:
        return False
    return True
