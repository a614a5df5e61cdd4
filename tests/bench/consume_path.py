"""Scenario 4: our consume path, EventConsumer + InboxDispatcher on PostgreSQL, one row per event.

The consumer hands over what the broker has delivered (up to the prefetch) as one batch, and the
dispatcher commits a batch in one transaction.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, func, select

from shared.consumer import EventConsumer
from shared.dispatch import InboxDispatcher
from shared.envelope import Envelope
from shared.messaging import connect
from shared.topology import Topology
from tests.bench.broker import fill, wait_for_depth
from tests.bench.common import PREFETCH, BenchError, Deadline, Measurement

# How long a stopped consumer may take to leave its drain loop (its safety interval is 1 s).
STOP_SECONDS = 5.0


def delivery_reports_table(metadata: MetaData) -> Table:
    return Table(
        "delivery_reports",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("provider_message_id", String(64), nullable=False),
        Column("status", String(32), nullable=False),
    )


class CountingHandle:
    """Dispatch each event, count the committed ones, stop the consumer at the target."""

    def __init__(self, dispatch: InboxDispatcher, target: int):
        self.dispatch = dispatch
        self.target = target
        self.handled = 0
        self.failure: BaseException | None = None
        self.done = threading.Event()
        self.consumer: EventConsumer | None = None

    def __call__(self, envelope: Envelope) -> None:
        try:
            self.dispatch(envelope)
        except BaseException as exc:
            # A failing handler would be retried forever by design; here it is a broken bench.
            self.failure = exc
            self._stop()
            raise
        self._count(1)

    def handle_batch(self, envelopes: Sequence[Envelope]) -> list[Exception | None]:
        outcomes = self.dispatch.handle_batch(envelopes)
        failed = [outcome for outcome in outcomes if outcome is not None]
        if failed:
            self.failure = failed[0]
            self._stop()
        self._count(len(outcomes) - len(failed))
        return outcomes

    def _count(self, handled: int) -> None:
        self.handled += handled
        if self.handled >= self.target:
            self._stop()

    def _stop(self) -> None:
        if self.consumer is not None:
            self.consumer.should_stop = True
        self.done.set()


def consume(
    url: str, engine: Engine, inbox: Table, reports: Table, topology: Topology, envelopes: list[Envelope]
) -> Measurement:
    total = len(envelopes)
    work = topology.queues("cases").work.name
    fill(url, topology, envelopes)
    wait_for_depth(url, work, total)

    def record(connection: Connection, envelope: Envelope) -> None:
        connection.execute(reports.insert().values(
            message_id=envelope.id,
            provider_message_id=envelope.payload["provider_message_id"],
            status=envelope.payload["status"],
        ))

    handle = CountingHandle(InboxDispatcher(engine, inbox, {"delivery.reported": record}), total)
    connection = connect(url)
    consumer = EventConsumer(connection, topology, "cases", handle, prefetch_count=PREFETCH)
    # ConsumerMixin retries a lost broker forever; a benchmark should fail instead.
    consumer.connect_max_retries = 2
    handle.consumer = consumer
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run()
        except BaseException as exc:
            crashed.append(exc)
            handle.done.set()

    deadline = Deadline("our consumer")
    thread = threading.Thread(target=run, name="bench-consumer", daemon=True)
    start = time.perf_counter()
    thread.start()
    try:
        handle.done.wait(deadline.remaining())
        seconds = time.perf_counter() - start
    finally:
        consumer.should_stop = True
        thread.join(STOP_SECONDS)
        consumer.republisher.connection.release()
        connection.release()
    if crashed or handle.failure:
        raise BenchError(f"our consumer failed: {(crashed or [handle.failure])[0]!r}")
    if handle.handled < total:
        raise BenchError(f"our consumer: only {handle.handled} of {total} events after {deadline.seconds:.0f}s")
    with engine.connect() as db:
        rows = db.scalar(select(func.count()).select_from(reports))
        seen = db.scalar(select(func.count()).select_from(inbox))
    if rows != total or seen != total:
        raise BenchError(f"our consumer wrote {rows} rows and {seen} inbox ids for {total} events")
    return Measurement("4", "our consume: EventConsumer + InboxDispatcher, one transaction per batch",
                       total, seconds, baseline="B")
