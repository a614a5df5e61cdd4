"""The same bus guarantees on the embedded (broker-less, SQLite) transport used by `make run`."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.consumer import RETRY_HEADER
from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.topology import MAX_RETRIES, Topology
from tests.integration.bus import BatchRecorder, ServiceDatabase, running_consumer, wait_for
from tests.integration.test_bus_on_rabbitmq import Recorder
from tests.unit.test_metrics import local_samples


def delivery_event():
    return new_event("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": "SM" + uuid.uuid4().hex,
        "notification_id": None, "status": "sent", "error_code": None, "reported_at": datetime.now(UTC),
    })


@pytest.fixture
def broker_url(tmp_path):
    return f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"


@pytest.fixture
def topology():
    return Topology("embedded.")


def dead_letters(url: str, topology: Topology) -> list:
    with connect(url) as connection:
        topology.declare(connection)
        bound = topology.queues("notifier").dead(connection.default_channel)
        found = []
        while (message := bound.get(no_ack=True)) is not None:
            found.append(message)
        return found


def test_malformed_message_is_dead_lettered_with_its_reason_and_consumer_keeps_going(broker_url, topology):
    publisher = EventPublisher(connect(broker_url), topology)
    recorder = Recorder()
    good = delivery_event()
    with running_consumer(broker_url, topology, "notifier", recorder):
        publisher.publish_raw(b"{broken", "delivery.reported", message_id="m1", correlation_id="c")
        publisher.publish(good)
        wait_for(lambda: recorder.seen)
    dead = dead_letters(broker_url, topology)
    assert len(dead) == 1
    assert dead[0].headers["x-death-reason"].startswith("invalid: body is not JSON")
    assert recorder.seen == [good.id]


def test_exhausted_retries_are_dead_lettered_on_the_embedded_transport(broker_url, topology):
    publisher = EventPublisher(connect(broker_url), topology)
    recorder = Recorder(fail_times=1)
    event = delivery_event()
    with running_consumer(broker_url, topology, "notifier", recorder):
        publisher.publish_raw(event.to_json(), event.type, message_id=event.id, correlation_id="c",
                              headers={RETRY_HEADER: MAX_RETRIES})
        wait_for(lambda: dead_letters_count(broker_url, topology))
    assert recorder.seen == []


def dead_letters_count(url, topology) -> int:
    with connect(url) as connection:
        topology.declare(connection)
        return topology.queues("notifier").dead(connection.default_channel).queue_declare(passive=True).message_count


def test_transient_failure_is_retried_on_the_embedded_transport(broker_url, topology):
    publisher = EventPublisher(connect(broker_url), topology)
    recorder = Recorder(fail_times=1)
    event = delivery_event()
    with running_consumer(broker_url, topology, "notifier", recorder):
        publisher.publish(event)
        wait_for(lambda: recorder.seen, timeout=10)
    assert recorder.seen == [event.id]
    assert json.loads(event.to_json())["id"] == event.id



def test_a_delivered_batch_is_committed_once_and_counted_per_message_on_the_embedded_transport(
        broker_url, topology, tmp_path):
    service = ServiceDatabase(f"sqlite:///{tmp_path / 'service.sqlite'}")
    publisher = EventPublisher(connect(broker_url), topology)
    events = [delivery_event() for _ in range(10)]
    for envelope in events:
        publisher.publish(envelope)
    work = topology.queues("notifier").work.name
    consumed_before = local_samples("messages_consumed_total", queue=work)
    recorder = BatchRecorder(service.dispatcher())
    with running_consumer(broker_url, topology, "notifier", recorder):
        wait_for(lambda: len(service.effect_ids()) == 10, timeout=20)
        wait_for(lambda: local_samples("messages_consumed_total", queue=work) - consumed_before == 10)
    ids = [e.id for e in events]
    assert service.effect_ids() == ids == recorder.seen()
    assert service.commits == len(recorder.batches) < 10
    service.engine.dispose()


def test_a_failing_message_in_a_batch_is_retried_alone_on_the_embedded_transport(broker_url, topology, tmp_path):
    service = ServiceDatabase(f"sqlite:///{tmp_path / 'service.sqlite'}")
    publisher = EventPublisher(connect(broker_url), topology)
    events = [delivery_event() for _ in range(5)]
    bad = events[1]
    service.failing[bad.id] = ConnectionError("flaky")
    for envelope in events:
        publisher.publish(envelope)
    recorder = BatchRecorder(service.dispatcher())
    with running_consumer(broker_url, topology, "notifier", recorder):
        wait_for(lambda: len(service.effect_ids()) == 4, timeout=20)
        assert bad.id not in service.effect_ids()
        del service.failing[bad.id]  # its retry, put back after a short wait, now succeeds
        wait_for(lambda: bad.id in service.effect_ids(), timeout=20)
    assert sorted(service.effect_ids()) == sorted(e.id for e in events)
    assert recorder.seen().count(bad.id) >= 2  # the batch, then its retry (another if the retry came too soon)
    assert dead_letters(broker_url, topology) == []
    service.engine.dispose()
