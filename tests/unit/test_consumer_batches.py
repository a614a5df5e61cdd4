"""The consumer hands over what was delivered as batches: at most the prefetch, in delivery order."""
from __future__ import annotations

import uuid

import pytest

from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.topology import Topology
from tests.integration.bus import BatchRecorder, ServiceDatabase, running_consumer, wait_for


def case_closed(n: int):
    return new_event("case.closed", {"case_id": f"case-{n}", "owner_id": "owner-1", "reason": "paid"})


@pytest.fixture
def broker_url(tmp_path):
    return f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"


@pytest.fixture
def topology():
    return Topology(f"b{uuid.uuid4().hex[:6]}.")


@pytest.fixture
def service(tmp_path):
    service = ServiceDatabase(f"sqlite:///{tmp_path / 'service.sqlite'}")
    yield service
    service.engine.dispose()


def publish(url: str, topology: Topology, bodies) -> None:
    publisher = EventPublisher(connect(url), topology)
    for body in bodies:
        if isinstance(body, bytes):
            publisher.publish_raw(body, "case.closed", message_id=str(uuid.uuid4()), correlation_id="t")
        else:
            publisher.publish(body)
    publisher.connection.release()


def test_a_batch_never_holds_more_than_the_prefetch(broker_url, topology, service):
    events = [case_closed(n) for n in range(10)]
    publish(broker_url, topology, events)
    recorder = BatchRecorder(service.dispatcher("case.closed"))
    with running_consumer(broker_url, topology, "notifier", recorder, prefetch_count=4):
        wait_for(lambda: len(service.effect_ids()) == 10, timeout=20)
    assert max(len(batch) for batch in recorder.batches) == 4
    assert recorder.seen() == service.effect_ids() == [e.id for e in events]
    assert service.commits == len(recorder.batches)


def test_an_undecodable_message_is_dead_lettered_and_the_rest_of_its_batch_is_handled_together(
        broker_url, topology, service):
    first, second = case_closed(1), case_closed(2)
    publish(broker_url, topology, [first, b"{not json", second])
    recorder = BatchRecorder(service.dispatcher("case.closed"))
    with running_consumer(broker_url, topology, "notifier", recorder):
        wait_for(lambda: len(service.effect_ids()) == 2, timeout=20)
    assert recorder.batches == [[first.id, second.id]]
    assert service.commits == 1


def test_a_plain_callable_is_called_once_per_message_in_delivery_order(broker_url, topology):
    events = [case_closed(n) for n in range(5)]
    publish(broker_url, topology, events)
    seen: list[str] = []
    with running_consumer(broker_url, topology, "notifier", lambda envelope: seen.append(envelope.id)):
        wait_for(lambda: len(seen) == 5, timeout=20)
    assert seen == [e.id for e in events]
