"""Small broker helpers the scenarios share: fill a queue fast, wait for a queue's depth."""
from __future__ import annotations

import time

from kombu import Connection

from shared.envelope import Envelope
from shared.messaging import EventPublisher, Outgoing, connect
from shared.topology import Topology
from tests.bench.common import BenchError


def queue_depth(connection: Connection, name: str) -> int:
    _, depth, _ = connection.default_channel.queue_declare(queue=name, passive=True)
    return depth


def wait_for_depth(url: str, name: str, expected: int, seconds: float = 30.0) -> None:
    """Return once `name` holds `expected` messages; a quorum queue may report with a lag."""
    until = time.monotonic() + seconds
    with Connection(url, connect_timeout=5) as connection:
        while (depth := queue_depth(connection, name)) != expected:
            if time.monotonic() >= until:
                raise BenchError(f"queue {name} holds {depth} messages, expected {expected}")
            time.sleep(0.05)


def fill(url: str, topology: Topology, envelopes: list[Envelope]) -> None:
    """Publish untimed set-up traffic in confirmed batches (unconfirmed publishes can be lost)."""
    publisher = EventPublisher(connect(url), topology)
    try:
        for start in range(0, len(envelopes), 1000):
            publisher.publish_many([
                Outgoing(e.to_json(), e.type, e.id, e.correlation_id) for e in envelopes[start:start + 1000]
            ])
    finally:
        publisher.connection.release()
