"""Baselines A and B: bare kombu publish with confirms, and bare consume+ack, on one quorum queue."""
from __future__ import annotations

import contextlib
import time

from kombu import Connection, Consumer, Producer, Queue

from shared.envelope import Envelope
from tests.bench.common import CHECK_EVERY, PREFETCH, Deadline, Measurement


def raw_queue(namespace: str) -> Queue:
    return Queue(f"{namespace}bench.raw", durable=True, queue_arguments={"x-queue-type": "quorum"})


def publish_raw(url: str, queue: Queue, envelopes: list[Envelope]) -> Measurement:
    """Publish each envelope persistent and confirmed, one confirm round-trip per message."""
    bodies = [(e.to_json(), e.id, e.correlation_id) for e in envelopes]
    total = len(bodies)
    deadline = Deadline("raw kombu publish")
    with Connection(url, transport_options={"confirm_publish": True}, connect_timeout=5) as connection:
        channel = connection.channel()
        queue(channel).declare()
        producer = Producer(channel)
        start = time.perf_counter()
        for done, (body, message_id, correlation_id) in enumerate(bodies):
            if done % CHECK_EVERY == 0:
                deadline.check(done, total)
            # The same properties our EventPublisher sets, so only our own code differs.
            producer.publish(
                body, exchange="", routing_key=queue.name,
                content_type="application/json", content_encoding="utf-8", delivery_mode=2,
                message_id=message_id, correlation_id=correlation_id, headers={},
            )
        seconds = time.perf_counter() - start
    return Measurement("A", "raw kombu publish, confirm each, quorum queue", total, seconds)


def consume_raw(url: str, queue: Queue, total: int) -> Measurement:
    """Consume and ack `total` messages with our prefetch, doing nothing else."""
    deadline = Deadline("raw kombu consume")
    handled = 0

    def on_message(message) -> None:
        nonlocal handled
        message.ack()
        handled += 1

    with Connection(url, connect_timeout=5) as connection:
        channel = connection.channel()
        consumer = Consumer(channel, queues=[queue], on_message=on_message, accept=["json"])
        consumer.qos(prefetch_count=PREFETCH)
        start = time.perf_counter()
        with consumer:
            while handled < total:
                deadline.check(handled, total)
                # A quiet second is not an error: the deadline decides when to give up.
                with contextlib.suppress(TimeoutError):
                    connection.drain_events(timeout=1)
        seconds = time.perf_counter() - start
    return Measurement("B", f"raw kombu consume+ack, prefetch {PREFETCH}", total, seconds)
