"""Batches on the real RabbitMQ and PostgreSQL: one commit per delivered batch, nothing lost or doubled."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from kombu import Connection

from shared.consumer import PermanentFailure
from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.topology import Topology
from tests.integration.bus import (
    BatchRecorder,
    ServiceDatabase,
    SimulatedCrash,
    drain,
    running_consumer,
    wait_for,
)

pytestmark = [pytest.mark.broker, pytest.mark.postgres]
SERVICE = "notifier"  # a consumer of delivery.reported


def delivery_event():
    return new_event("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": "SM" + uuid.uuid4().hex,
        "notification_id": str(uuid.uuid4()), "status": "delivered", "error_code": None,
        "reported_at": datetime.now(UTC),
    })


@pytest.fixture
def topology(namespace):
    return Topology(namespace)


@pytest.fixture
def publisher(rabbit_url, topology):
    publisher = EventPublisher(connect(rabbit_url), topology)
    yield publisher
    publisher.connection.release()


@pytest.fixture
def service(postgres_url):
    service = ServiceDatabase(postgres_url)
    yield service
    service.engine.dispose()


def waiting(url: str, topology: Topology) -> int:
    """Messages ready in the service's work queue."""
    with Connection(url) as connection:
        _, depth, _ = connection.default_channel.queue_declare(
            queue=topology.queues(SERVICE).work.name, passive=True)
        return depth


def published_before_consuming(url, topology, publisher, count: int) -> list:
    """Events already in the queue when the consumer starts, so the broker delivers them together."""
    events = [delivery_event() for _ in range(count)]
    for envelope in events:
        publisher.publish(envelope)
    wait_for(lambda: waiting(url, topology) == count)
    return events


def test_what_was_delivered_is_committed_once_per_batch_in_delivery_order(rabbit_url, topology, publisher,
                                                                          service):
    events = published_before_consuming(rabbit_url, topology, publisher, 20)
    recorder = BatchRecorder(service.dispatcher())
    with running_consumer(rabbit_url, topology, SERVICE, recorder):
        wait_for(lambda: len(service.effect_ids()) == 20)
    ids = [e.id for e in events]
    assert service.effect_ids() == ids
    assert recorder.seen() == ids
    assert service.commits == len(recorder.batches) < 20
    # Every one was acked: nothing comes back to the queue once the consumer has gone.
    assert drain(rabbit_url, topology.queues(SERVICE).work, timeout=1) == []


def test_a_failing_message_in_a_batch_is_retried_alone_and_the_others_commit_once(rabbit_url, topology,
                                                                                   publisher, service):
    events = published_before_consuming(rabbit_url, topology, publisher, 6)
    bad = events[2]
    service.failing[bad.id] = ConnectionError("flaky")
    recorder = BatchRecorder(service.dispatcher())
    with running_consumer(rabbit_url, topology, SERVICE, recorder):
        # The good ones commit (those after the bad one only once it failed alone: delivery order) ...
        wait_for(lambda: len(service.effect_ids()) == 5)
        assert bad.id not in service.effect_ids()
        # ... and it comes back from the 1 s delay queue, now to succeed.
        del service.failing[bad.id]
        wait_for(lambda: bad.id in service.effect_ids(), timeout=20)
    assert sorted(service.effect_ids()) == sorted(e.id for e in events)
    assert recorder.seen().count(bad.id) >= 2  # the batch, then its retry (another if the retry came too soon)
    assert all(recorder.seen().count(e.id) == 1 for e in events if e is not bad)
    assert drain(rabbit_url, topology.queues(SERVICE).dead, timeout=0.5) == []
    assert drain(rabbit_url, topology.queues(SERVICE).work, timeout=1) == []


def test_a_permanently_failing_message_in_a_batch_is_dead_lettered_alone(rabbit_url, topology, publisher,
                                                                          service):
    events = published_before_consuming(rabbit_url, topology, publisher, 6)
    bad = events[3]
    service.failing[bad.id] = PermanentFailure("never")
    with running_consumer(rabbit_url, topology, SERVICE, BatchRecorder(service.dispatcher())):
        dead = drain(rabbit_url, topology.queues(SERVICE).dead)
        wait_for(lambda: len(service.effect_ids()) == 5)
    assert [m.properties["message_id"] for m in dead] == [bad.id]
    assert sorted(service.effect_ids()) == sorted(e.id for e in events if e is not bad)
    assert drain(rabbit_url, topology.queues(SERVICE).dead, timeout=0.5) == []


class CrashAfterCommit(BatchRecorder):
    """Commits the first batch it is given, then crashes before the consumer can ack it."""

    def handle_batch(self, envelopes):
        outcomes = super().handle_batch(envelopes)
        raise SimulatedCrash()
        return outcomes  # pragma: no cover


def test_a_batch_redelivered_after_a_crash_past_its_commit_has_one_effect_each(rabbit_url, topology,
                                                                                publisher, service):
    events = published_before_consuming(rabbit_url, topology, publisher, 5)
    crashing = CrashAfterCommit(service.dispatcher())
    with running_consumer(rabbit_url, topology, SERVICE, crashing) as consumer:
        wait_for(consumer.crashed.is_set)
    [committed] = crashing.batches
    assert service.effect_ids() == committed
    later = [delivery_event() for _ in range(2)]
    for envelope in later:
        publisher.publish(envelope)

    recorder = BatchRecorder(service.dispatcher())
    with running_consumer(rabbit_url, topology, SERVICE, recorder):
        wait_for(lambda: len(service.effect_ids()) == 7)
        wait_for(lambda: waiting(rabbit_url, topology) == 0)
    assert set(committed) <= set(recorder.seen())  # redelivered: never acked
    assert sorted(service.effect_ids()) == sorted(e.id for e in events + later)
    assert sorted(service.calls) == sorted(e.id for e in events + later)  # no handler ran twice


def test_a_crash_before_the_commit_redelivers_the_whole_batch(rabbit_url, topology, publisher, service):
    events = published_before_consuming(rabbit_url, topology, publisher, 5)
    crash_on = events[2]
    service.failing[crash_on.id] = SimulatedCrash()
    first = BatchRecorder(service.dispatcher())
    with running_consumer(rabbit_url, topology, SERVICE, first) as consumer:
        wait_for(consumer.crashed.is_set)
    *acked, crashed = first.batches
    assert crash_on.id in crashed
    assert service.effect_ids() == [message_id for batch in acked for message_id in batch]

    del service.failing[crash_on.id]
    second = BatchRecorder(service.dispatcher())
    with running_consumer(rabbit_url, topology, SERVICE, second):
        wait_for(lambda: len(service.effect_ids()) == 5)
    assert set(crashed) <= set(second.seen())
    assert sorted(service.effect_ids()) == sorted(e.id for e in events)


def test_a_lone_message_is_handled_without_waiting_for_a_batch_to_fill(rabbit_url, topology, publisher,
                                                                       service):
    recorder = BatchRecorder(service.dispatcher())
    envelope = delivery_event()
    with running_consumer(rabbit_url, topology, SERVICE, recorder):
        publisher.publish(envelope)
        # Nothing else is published: a consumer waiting for more would never handle it.
        wait_for(lambda: service.effect_ids() == [envelope.id])
        assert recorder.batches == [[envelope.id]]
