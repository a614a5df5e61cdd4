"""Scenario 3: our publish path, events staged in a PostgreSQL outbox and relayed with confirms."""
from __future__ import annotations

import time

from sqlalchemy import Engine, Table, func, select

from shared.envelope import Envelope
from shared.messaging import EventPublisher, connect
from shared.outbox import OutboxRelay, add_to_outbox
from shared.topology import Topology
from tests.bench.broker import wait_for_depth
from tests.bench.common import BenchError, Deadline, Measurement


def stage(engine: Engine, outbox: Table, envelopes: list[Envelope], per_transaction: int) -> Measurement:
    """Stage the events as a sweep would: `per_transaction` cases committed together."""
    total = len(envelopes)
    deadline = Deadline("outbox staging")
    start = time.perf_counter()
    for first in range(0, total, per_transaction):
        deadline.check(first, total)
        with engine.begin() as connection:
            add_to_outbox(connection, outbox, *envelopes[first:first + per_transaction])
    seconds = time.perf_counter() - start
    unit = "1 event" if per_transaction == 1 else f"{per_transaction} events"
    return Measurement(f"S{per_transaction}", f"our staging: add_to_outbox, {unit}/tx", total, seconds, baseline="A")


def relay(url: str, engine: Engine, outbox: Table, topology: Topology, total: int) -> Measurement:
    """Relay the whole outbox with `relay_once` until it reports nothing left."""
    deadline = Deadline("outbox relay")
    publisher = EventPublisher(connect(url), topology)
    relayed = 0
    try:
        relayer = OutboxRelay(engine, outbox, publisher)
        start = time.perf_counter()
        while (batch := relayer.relay_once()) > 0:
            relayed += batch
            deadline.check(relayed, total)
        seconds = time.perf_counter() - start
    finally:
        publisher.connection.release()
    with engine.connect() as connection:
        pending = connection.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    if relayed != total or pending:
        raise BenchError(f"outbox relay published {relayed} of {total}; {pending} rows still pending")
    # Confirmed means enqueued: the notifier's work queue must hold every relayed event.
    wait_for_depth(url, topology.queues("notifier").work.name, total)
    return Measurement("3", "our publish: OutboxRelay.relay_once", total, seconds, baseline="A")
