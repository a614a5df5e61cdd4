"""Processed message ids, so a consumer's effect happens once per message id."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite

from shared.db import UtcDateTime


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("type", String(64), nullable=False),
        Column("handled_at", UtcDateTime(), nullable=False),
    )


def first_delivery(connection: Connection, inbox: Table, message_id: str, type_: str) -> bool:
    """Record the message id in this transaction; False if it was handled before."""
    return message_id in first_deliveries(connection, inbox, [(message_id, type_)])


def first_deliveries(connection: Connection, inbox: Table, messages: Iterable[tuple[str, str]]) -> set[str]:
    """Record (message id, type) pairs in this transaction, in one statement; the ids that are new.

    An id handled before, or repeated in `messages`, is recorded once: only its first occurrence
    is new, and none if an earlier transaction recorded it.
    """
    now = datetime.now(UTC)
    rows = [{"message_id": message_id, "type": type_, "handled_at": now} for message_id, type_ in messages]
    if not rows:
        return set()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(inbox).values(rows).on_conflict_do_nothing(
        index_elements=["message_id"]).returning(inbox.c.message_id)
    # RETURNING, not rowcount: some drivers report -1 for INSERT ... ON CONFLICT.
    return set(connection.execute(statement).scalars())
