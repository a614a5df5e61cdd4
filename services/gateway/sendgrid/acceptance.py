"""Accept many provider deliveries at once: each key's events are stored once, all in one transaction."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from flask import Response
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from services.gateway.tables import outbox, webhook_receipts
from shared.envelope import Envelope
from shared.outbox import add_to_outbox
from shared.web import error_response

log = logging.getLogger(__name__)
ROWS_PER_INSERT = 300  # three parameters a row: far below SQLite's and PostgreSQL's limits


def accept_each(engine: Engine, deliveries: Iterable[tuple[str, Sequence[Envelope]]]) -> int:
    """Store each delivery's events unless its key was accepted before; return how many were new.

    The batch form of acceptance.accept_once: one transaction for a whole SendGrid batch, so a
    batch is stored completely or not at all, and a retried batch adds only what is new.
    """
    pending: dict[str, Sequence[Envelope]] = {}
    for key, events in deliveries:
        if events:
            pending.setdefault(key, events)
    if not pending:
        return 0
    keys = list(pending)
    received_at = datetime.now(UTC)
    fresh: set[str] = set()
    with engine.begin() as connection:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        for start in range(0, len(keys), ROWS_PER_INSERT):
            rows = [{"key": key, "message_id": pending[key][0].id, "received_at": received_at}
                    for key in keys[start:start + ROWS_PER_INSERT]]
            fresh.update(connection.execute(
                insert(webhook_receipts).values(rows)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(webhook_receipts.c.key)
            ).scalars())
        add_to_outbox(connection, outbox, *(event for key in keys if key in fresh for event in pending[key]))
    return len(fresh)


def stored_or_503(store: Callable[[], object]) -> tuple[Response, int] | None:
    """Run `store`; a 503 (so SendGrid retries) if the database cannot take it right now."""
    try:
        store()
    except SQLAlchemyError:
        log.exception("could not store a SendGrid webhook")
        return error_response(503, "Temporarily unable to accept; please retry.")
    return None
