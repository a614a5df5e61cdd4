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
from tests.integration.bus import running_consumer, wait_for
from tests.integration.test_bus_on_rabbitmq import Recorder


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
