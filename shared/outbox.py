"""Transactional outbox: events are written with the change that caused them, then relayed.

A row is committed in the same transaction as the domain change; the relay publishes pending
rows with broker confirms and marks them published. A crash between the two republishes the
row, which the consumers' inboxes absorb (at-least-once on the bus, once in effect).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)

from shared import metrics
from shared.db import UtcDateTime
from shared.envelope import Envelope
from shared.messaging import Outgoing, PublishIncomplete

log = logging.getLogger(__name__)
_ID = BigInteger().with_variant(Integer, "sqlite")
COPY_FROM = 200  # events staged at once from which COPY beats an INSERT per row
LAG_EVERY_SECONDS = 1.0  # how often the relay measures its lag for /metrics


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        Column("seq", _ID, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False, unique=True),
        Column("routing_key", String(64), nullable=False),
        Column("correlation_id", String(128), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
    )
    Index(
        "ix_outbox_pending",
        table.c.seq,
        postgresql_where=table.c.published_at.is_(None),
        sqlite_where=table.c.published_at.is_(None),
    )
    return table


def add_to_outbox(connection: Connection, outbox: Table, *envelopes: Envelope) -> None:
    """Stage events in the caller's transaction."""
    if not envelopes:
        return
    now = datetime.now(UTC)
    rows = [
        {"message_id": e.id, "routing_key": e.type, "correlation_id": e.correlation_id,
         "body": e.to_json(), "created_at": now}
        for e in envelopes
    ]
    if len(rows) >= COPY_FROM and connection.dialect.name == "postgresql":
        _copy(connection, outbox, rows)
    else:
        connection.execute(outbox.insert(), rows)


def _copy(connection: Connection, outbox: Table, rows: list[dict]) -> None:
    """COPY into the outbox inside the caller's transaction: the fastest way PostgreSQL offers."""
    columns = ("message_id", "routing_key", "correlation_id", "body", "created_at")
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {outbox.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


class OutboxRelay:
    """Publish pending outbox rows in order, with confirms, and mark them published."""

    def __init__(self, engine: Engine, outbox: Table, publisher, batch_size: int = 500):
        self.engine = engine
        self.outbox = outbox
        self.publisher = publisher
        self.batch_size = batch_size

    def relay_once(self) -> int:
        """Publish one batch; return how many rows went out."""
        table = self.outbox
        query = (
            select(table.c.seq, table.c.message_id, table.c.routing_key, table.c.correlation_id, table.c.body)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.seq)
            .limit(self.batch_size)
        )
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Two relays never publish the same row at the same time.
                query = query.with_for_update(skip_locked=True)
            rows = connection.execute(query).all()
            if not rows:
                return 0
            batch = [
                Outgoing(row.body, row.routing_key, row.message_id, row.correlation_id) for row in rows
            ]
            failure = None
            try:
                self.publisher.publish_many(batch)
                confirmed = range(len(rows))
            except PublishIncomplete as exc:  # keep what got through; the rest waits for the next pass
                failure, confirmed = exc, exc.confirmed
            published = [rows[i].seq for i in confirmed]
            if published:
                connection.execute(
                    update(table)
                    .where(table.c.seq.in_(published))
                    .values(published_at=datetime.now(UTC))
                )
        if failure is not None:
            raise failure
        return len(published)

    def purge_published(self, older_than: timedelta = timedelta(days=7)) -> int:
        cutoff = datetime.now(UTC) - older_than
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(self.outbox).where(self.outbox.c.published_at < cutoff)
            )
            return result.rowcount

    def lag_seconds(self) -> float:
        """Age of the oldest row still waiting to be published (0 when none waits)."""
        table = self.outbox
        with self.engine.connect() as connection:
            oldest = connection.execute(
                select(table.c.created_at).where(table.c.published_at.is_(None)).order_by(table.c.seq).limit(1)
            ).scalar()
        return max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest is not None else 0.0

    def run(self, stop: threading.Event, poll_seconds: float = 0.1) -> None:
        """Relay until `stop` is set; a broker or database outage only pauses it."""
        measured = 0.0
        while not stop.is_set():
            if time.monotonic() - measured >= LAG_EVERY_SECONDS:  # the lag gauge, not on every poll
                measured = time.monotonic()
                try:
                    metrics.outbox_lag().set(self.lag_seconds())
                except Exception:
                    log.warning("outbox lag not measured", exc_info=True)
            try:
                while self.relay_once() == self.batch_size and not stop.is_set():
                    pass
            except Exception:
                log.exception("outbox relay failed; will retry")
                stop.wait(1.0)
                continue
            stop.wait(poll_seconds)
