"""Accept a provider's webhook once: its receipts, its events and the auto-replies they call for
commit together, or none of them does.

A delivery may have several keys (Twilio's MessageSid and its I-Twilio-Idempotency-Token): a
retry that repeats any one of them is the same delivery, and is stored as nothing at all.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import sqlite

from services.gateway.autoreply import auto_replies
from services.gateway.tables import outbox, webhook_receipts
from shared.envelope import Envelope
from shared.outbox import add_to_outbox

# PostgreSQL: receipts and events in one statement, so a webhook costs one round trip to store
# (run in autocommit, the statement is its own transaction: all of it commits or none of it).
# Receipts are written only if no key is known, events only if every receipt was new. Two
# deliveries racing with one key in common: the second waits on that key, then stores no events
# (its other key may stay recorded, naming the same delivery).
ACCEPT_ON_POSTGRESQL = """
WITH keys AS (
    SELECT value AS key FROM jsonb_array_elements_text(%(keys)s::jsonb)
), fresh AS (
    INSERT INTO webhook_receipts (key, message_id, received_at)
    SELECT key, %(message_id)s, %(received_at)s FROM keys
    WHERE NOT EXISTS (SELECT 1 FROM webhook_receipts r JOIN keys USING (key))
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
), staged AS (
    INSERT INTO outbox (message_id, routing_key, correlation_id, body, created_at)
    SELECT e.item->>0, e.item->>1, e.item->>2, e.item->>3, %(received_at)s
    FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e(item, position)
    WHERE (SELECT count(*) FROM fresh) = %(key_count)s
    ORDER BY e.position
    RETURNING 1
)
SELECT count(*) FROM staged
"""



class _SeenBefore(Exception):
    """One of the delivery's keys was accepted before: undo the receipts written so far."""


Reader = Callable[[Connection], Sequence[Envelope]]


def accept_once(engine: Engine, key: str | tuple[str, ...], event: Envelope, *more: Envelope) -> bool:
    """Store the event(s) for relay unless any of the `key`s was accepted before; True if it is new."""
    return accept_read(engine, key, lambda _connection: (event, *more))


def accept_read(engine: Engine, key: str | tuple[str, ...], read: Reader) -> bool:
    """accept_once for events that need the store to be built (an owner's reply, read in the
    sender's timezone and matched to the FAQ): `read(connection)` runs on the connection that
    then stores them, so the hot path checks out one connection."""
    keys = (key,) if isinstance(key, str) else tuple(dict.fromkeys(key))
    if engine.dialect.name == "postgresql":
        return _accept_on_postgresql(engine, keys, read)
    try:
        with engine.begin() as connection:
            return _accept_in(connection, keys, read)
    except _SeenBefore:
        return False


def _accept_in(connection: Connection, keys: tuple[str, ...], read: Reader) -> bool:
    """The portable way (SQLite): read, write the receipts, and stage the events if all were new."""
    envelopes = _with_answers(connection, read(connection))
    now = datetime.now(UTC)
    fresh = connection.execute(
        sqlite.insert(webhook_receipts)
        .values([{"key": each, "message_id": envelopes[0].id, "received_at": now} for each in keys])
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(webhook_receipts.c.key)
    ).all()
    if len(fresh) < len(keys):
        raise _SeenBefore
    add_to_outbox(connection, outbox, *envelopes)
    return True


def _accept_on_postgresql(engine: Engine, keys: tuple[str, ...], read: Reader) -> bool:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        envelopes = _with_answers(connection, read(connection))
        staged = connection.exec_driver_sql(ACCEPT_ON_POSTGRESQL, {
            "message_id": envelopes[0].id, "received_at": datetime.now(UTC), "keys": json.dumps(keys),
            "key_count": len(keys),
            # One JSON parameter for the rows: psycopg escapes a text[] element by element, slowly.
            "events": json.dumps([(e.id, e.type, e.correlation_id, e.to_json()) for e in envelopes]),
        }).scalar_one()
    return staged > 0


def _with_answers(connection: Connection, events: Sequence[Envelope]) -> list[Envelope]:
    """The events and the auto-replies the owners' replies among them call for."""
    answers = [reply for e in events if e.type == "owner.replied" for reply in auto_replies(connection, e.payload)]
    return [*events, *answers]

