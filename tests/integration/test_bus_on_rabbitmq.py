"""The shared messaging layer on the real RabbitMQ: confirms, dead letters, retries, inbox."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from shared.consumer import RETRY_HEADER, PermanentFailure
from shared.db import make_engine
from shared.dispatch import InboxDispatcher
from shared.envelope import new_event
from shared.inbox import inbox_table
from shared.messaging import EventPublisher, connect
from shared.topology import MAX_RETRIES, Topology
from tests.integration.bus import drain, running_consumer, wait_for

pytestmark = pytest.mark.broker


def delivery_event():
    return new_event("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": "SM" + uuid.uuid4().hex,
        "notification_id": str(uuid.uuid4()), "status": "delivered", "error_code": None,
        "reported_at": datetime.now(UTC),
    })


class Recorder:
    """A handler that remembers what it saw and can be told to fail."""

    def __init__(self, fail_times: int = 0, permanent: bool = False):
        self.seen: list[str] = []
        self.fail_times = fail_times
        self.permanent = permanent
        self.lock = threading.Lock()

    def __call__(self, envelope):
        with self.lock:
            if self.fail_times > 0:
                self.fail_times -= 1
                raise PermanentFailure("never") if self.permanent else ConnectionError("flaky")
            self.seen.append(envelope.id)


@pytest.fixture
def topology(namespace):
    return Topology(namespace)


@pytest.fixture
def publisher(rabbit_url, topology):
    publisher = EventPublisher(connect(rabbit_url), topology)
    yield publisher
    publisher.connection.release()  # after a reconnect this is a new connection


def as_bytes(body) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8")


def publish_bytes(publisher, body: bytes, routing_key: str = "delivery.reported", headers=None):
    publisher.publish_raw(body, routing_key, message_id=str(uuid.uuid4()),
                          correlation_id="test", headers=headers)


def test_published_event_reaches_the_subscribed_service(rabbit_url, topology, publisher):
    recorder = Recorder()
    event = delivery_event()
    with running_consumer(rabbit_url, topology, "notifier", recorder):
        publisher.publish(event)
        wait_for(lambda: recorder.seen)
    assert recorder.seen == [event.id]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        json.dumps({"id": "x"}).encode(),
    ],
    ids=["broken-json", "not-utf8", "json-array", "envelope-missing-fields"],
)
def test_malformed_message_lands_in_dead_letter_queue_and_consumer_keeps_going(
    rabbit_url, topology, publisher, body
):
    recorder = Recorder()
    good = delivery_event()
    with running_consumer(rabbit_url, topology, "notifier", recorder):
        publish_bytes(publisher, body)
        publisher.publish(good)
        wait_for(lambda: recorder.seen)
    dead = drain(rabbit_url, topology.queues("notifier").dead)
    assert len(dead) == 1
    assert as_bytes(dead[0].body) == body
    assert dead[0].headers["x-death"][0]["reason"] == "rejected"
    assert recorder.seen == [good.id]


def test_event_with_unknown_field_in_payload_is_dead_lettered(rabbit_url, topology, publisher):
    envelope = json.loads(delivery_event().to_json())
    envelope["payload"]["surprise"] = 1
    recorder = Recorder()
    with running_consumer(rabbit_url, topology, "notifier", recorder):
        publish_bytes(publisher, json.dumps(envelope).encode())
        dead = drain(rabbit_url, topology.queues("notifier").dead)
    assert len(dead) == 1 and recorder.seen == []


def test_permanent_failure_is_dead_lettered_without_retry(rabbit_url, topology, publisher):
    recorder = Recorder(fail_times=1, permanent=True)
    with running_consumer(rabbit_url, topology, "notifier", recorder):
        publisher.publish(delivery_event())
        dead = drain(rabbit_url, topology.queues("notifier").dead)
    assert len(dead) == 1
    assert RETRY_HEADER not in (dead[0].headers or {})


def test_transient_failure_is_retried_through_the_delay_queue(rabbit_url, topology, publisher):
    recorder = Recorder(fail_times=1)
    event = delivery_event()
    with running_consumer(rabbit_url, topology, "notifier", recorder):
        publisher.publish(event)
        # The first retry waits out the 1 s TTL of the first delay queue, then comes back.
        wait_for(lambda: recorder.seen, timeout=15)
    assert recorder.seen == [event.id]
    assert drain(rabbit_url, topology.queues("notifier").dead, timeout=0.5) == []


def test_retries_are_bounded_then_dead_lettered(rabbit_url, topology, publisher):
    recorder = Recorder(fail_times=100)
    event = delivery_event()
    with running_consumer(rabbit_url, topology, "notifier", recorder):
        # A message that has already used every retry fails once more and must stop.
        publisher.publish_raw(event.to_json(), event.type, message_id=event.id,
                              correlation_id="t", headers={RETRY_HEADER: MAX_RETRIES})
        dead = drain(rabbit_url, topology.queues("notifier").dead)
    assert len(dead) == 1
    assert dead[0].headers[RETRY_HEADER] == MAX_RETRIES
    assert recorder.seen == []


def test_message_delivered_twice_has_one_effect(rabbit_url, topology, publisher, postgres_url):
    engine = make_engine(postgres_url)
    metadata = MetaData()
    inbox = inbox_table(metadata)
    effects = Table("effects", metadata, Column("id", Integer, primary_key=True),
                    Column("message_id", String(64)))
    metadata.create_all(engine)

    def record_effect(connection, envelope):
        connection.execute(insert(effects).values(message_id=envelope.id))

    dispatch = InboxDispatcher(engine, inbox, {"delivery.reported": record_effect})
    event, marker = delivery_event(), delivery_event()
    with running_consumer(rabbit_url, topology, "notifier", dispatch):
        publisher.publish(event)
        publisher.publish(event)  # the same message id again, as a redelivery would be
        publisher.publish(marker)

        def handled():
            with engine.connect() as c:
                return c.execute(select(func.count()).select_from(inbox)).scalar_one() == 2

        wait_for(handled)
    with engine.connect() as connection:
        rows = connection.execute(select(effects.c.message_id)).scalars().all()
    engine.dispose()
    assert sorted(rows) == sorted([event.id, marker.id])


def test_publisher_reconnects_after_the_broker_closes_its_connection(rabbit_url, topology, publisher):
    import subprocess

    recorder = Recorder()
    first, second = delivery_event(), delivery_event()
    with running_consumer(rabbit_url, topology, "notifier", recorder):
        publisher.publish(first)
        wait_for(lambda: recorder.seen)
        vhost = rabbit_url.rsplit("/", 1)[1]
        subprocess.run(["rabbitmqctl", "-q", "close_all_connections", "-p", vhost, "test"],
                       check=True, capture_output=True, timeout=60)
        publisher.publish(second)
        wait_for(lambda: len(recorder.seen) == 2, timeout=20)
    assert recorder.seen == [first.id, second.id]
