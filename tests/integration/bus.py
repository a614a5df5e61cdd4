"""Helpers to run a real consumer against RabbitMQ inside a test, and to read queues."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from kombu import Connection

from shared.consumer import EventConsumer
from shared.messaging import connect
from shared.topology import Topology


@contextmanager
def running_consumer(url: str, topology: Topology, service: str, handle):
    consumer = EventConsumer(connect(url, heartbeat=10), topology, service, handle)
    thread = threading.Thread(target=consumer.run, kwargs={"_tokens": 1}, daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        consumer.should_stop = True
        thread.join(timeout=10)
        consumer.connection.release()
        consumer.republisher.connection.release()


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
