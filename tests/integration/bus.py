"""Helpers to run a real consumer against RabbitMQ inside a test, and to read queues."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from kombu import Connection
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select

from shared.consumer import EventConsumer
from shared.db import make_engine
from shared.dispatch import InboxDispatcher
from shared.inbox import inbox_table
from shared.messaging import connect
from shared.topology import Topology


class SimulatedCrash(BaseException):
    """Raised by a test's handle to stop the consumer where a crash would: nothing after it runs."""


@contextmanager
def running_consumer(url: str, topology: Topology, service: str, handle, **options):
    consumer = EventConsumer(connect(url, heartbeat=10), topology, service, handle, **options)
    consumer.crashed = threading.Event()

    def run() -> None:
        try:
            consumer.run(_tokens=1)
        except SimulatedCrash:
            # Leaving run() closed the connection without acking: the broker redelivers what it held.
            consumer.crashed.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        consumer.should_stop = True
        thread.join(timeout=10)
        consumer.connection.release()
        consumer.republisher.connection.release()


class BatchRecorder:
    """Wraps an InboxDispatcher: notes each batch the consumer hands over (the ids, in order)."""

    def __init__(self, dispatch):
        self.dispatch = dispatch
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, envelope) -> None:
        self.dispatch(envelope)

    def handle_batch(self, envelopes):
        with self.lock:
            self.batches.append([e.id for e in envelopes])
        return self.dispatch.handle_batch(envelopes)

    def seen(self) -> list[str]:
        with self.lock:
            return [message_id for batch in self.batches for message_id in batch]


def drain(url: str, queue, timeout: float = 5.0, expect: int = 1) -> list:
    """Take messages from a declared queue until `expect` arrived or time runs out; ack them."""
    got = []
    deadline = time.monotonic() + timeout
    with Connection(url) as connection:
        bound = queue(connection.default_channel)
        while len(got) < expect and time.monotonic() < deadline:
            message = bound.get(no_ack=False)
            if message is None:
                time.sleep(0.05)
                continue
            got.append(message)
            message.ack()
    return got


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


class ServiceDatabase:
    """A consuming service's database: its inbox, one effect row per handled event, its commits."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        metadata = MetaData()
        self.inbox = inbox_table(metadata)
        self.effects = Table("effects", metadata, Column("id", Integer, primary_key=True),
                             Column("message_id", String(64), nullable=False))
        metadata.create_all(self.engine)
        self.commits = 0
        self.calls: list[str] = []
        self.failing: dict[str, BaseException] = {}  # message id -> raised after its write, until removed
        self.lock = threading.Lock()
        event.listen(self.engine, "commit", self._count_commit)

    def _count_commit(self, _connection) -> None:
        with self.lock:
            self.commits += 1

    def record(self, connection, envelope) -> None:
        with self.lock:
            self.calls.append(envelope.id)
            failure = self.failing.get(envelope.id)
        connection.execute(insert(self.effects).values(message_id=envelope.id))
        if failure is not None:
            raise failure

    def dispatcher(self, *types: str) -> InboxDispatcher:
        """Records an effect for each event of `types` (delivery.reported if none are named)."""
        return InboxDispatcher(self.engine, self.inbox, dict.fromkeys(types or ["delivery.reported"], self.record))

    def effect_ids(self) -> list[str]:
        with self.engine.connect() as connection:
            return connection.execute(select(self.effects.c.message_id).order_by(self.effects.c.id)).scalars().all()
