"""Each health rule trips against the real RabbitMQ (management API, or passive declares without it).

The management API refreshes its numbers every few seconds, so the tests poll the report until
the rule they expect shows (or goes) instead of reading it once.
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest
from werkzeug.serving import make_server

from services.notifier.breaker import BreakerRules, CircuitBreaker
from services.notifier.providers import ProviderUnavailable
from shared import metrics
from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.queue_watch import HealthRules, notifier_circuits, watch
from shared.topology import Topology
from tests.integration.bus import drain, running_consumer, wait_for
from tests.unit.sqlite_services import migrated_database, root_logging_kept, set_environment

pytestmark = pytest.mark.broker
NO_CIRCUITS = dict  # the notifier's circuits, all closed


def case_closed():
    """An event only the notifier consumes."""
    return new_event("case.closed", {"case_id": str(uuid.uuid4()), "owner_id": "owner-1", "reason": "paid"})


@pytest.fixture
def topology(rabbit_url, namespace):
    topology = Topology(namespace)
    with connect(rabbit_url) as connection:
        topology.declare(connection)
    return topology


@pytest.fixture
def publisher(rabbit_url, topology):
    publisher = EventPublisher(connect(rabbit_url), topology)
    yield publisher
    publisher.connection.release()


def alerts(report: dict, rule: str) -> list[str]:
    return sorted(a["subject"] for a in report["alerts"] if a["rule"] == rule)


def queue(report: dict, name: str) -> dict:
    [found] = [q for q in report["queues"] if q["name"] == name]
    return found


def until_report(rabbit_url, topology, predicate, rules: HealthRules | None = None, **options) -> dict:
    """Poll the report until `predicate(report)` holds (the management API lags a few seconds)."""
    reports = []

    def check():
        reports.append(watch(rabbit_url, topology.namespace, rules=rules or HealthRules(), circuits=NO_CIRCUITS,
                             **options))
        return predicate(reports[-1])

    wait_for(check, timeout=30, interval=0.25)
    return reports[-1]


def test_every_queue_of_the_system_is_reported_from_the_management_api(rabbit_url, topology):
    report = watch(rabbit_url, topology.namespace, circuits=NO_CIRCUITS)

    assert report["source"] == "management"
    expected = {q.name for queues in topology.all_queues() for q in queues.all}
    assert {q["name"] for q in report["queues"]} == expected
    work = queue(report, topology.queues("notifier").work.name)
    assert set(work) == {"name", "service", "kind", "ready", "unacked", "consumers", "publish_rate",
                         "deliver_rate", "oldest_age_seconds"}
    assert (work["service"], work["kind"]) == ("notifier", "work")
    assert queue(report, topology.queues("notifier").dead.name)["kind"] == "dead"


def test_a_work_queue_without_consumers_raises_an_alert_until_its_worker_runs(rabbit_url, topology):
    work = topology.queues("notifier").work.name
    report = watch(rabbit_url, topology.namespace, circuits=NO_CIRCUITS)
    assert work in alerts(report, "no_consumers")

    with running_consumer(rabbit_url, topology, "notifier", lambda envelope: None):
        report = until_report(rabbit_url, topology, lambda r: work not in alerts(r, "no_consumers"))

    assert queue(report, work)["consumers"] == 1
    assert topology.queues("cases").work.name in alerts(report, "no_consumers")


def test_a_queue_deeper_than_its_limit_raises_an_alert(rabbit_url, topology, publisher):
    work = topology.queues("notifier").work.name
    for _ in range(3):
        publisher.publish(case_closed())

    report = until_report(rabbit_url, topology, lambda r: queue(r, work)["ready"] == 3,
                          rules=HealthRules(max_depth=2))

    assert alerts(report, "depth") == [work]
    assert queue(report, work)["publish_rate"] is not None
    calmer = watch(rabbit_url, topology.namespace, rules=HealthRules(max_depth=3), circuits=NO_CIRCUITS)
    assert alerts(calmer, "depth") == []


def test_a_message_waiting_longer_than_the_limit_raises_an_alert(rabbit_url, topology, publisher):
    work = topology.queues("notifier").work.name
    publisher.publish(case_closed())
    rules = HealthRules(max_age_seconds=300, peek_work_queues=True)
    an_hour_later = time.time() + 3600  # as seen by a monitor an hour after the publish

    report = until_report(rabbit_url, topology, lambda r: queue(r, work)["ready"] == 1, rules=rules,
                          clock=lambda: an_hour_later)

    assert alerts(report, "oldest_age") == [work]
    assert queue(report, work)["oldest_age_seconds"] >= 3600 - 60
    # The peek gave the message back: it is still there for its consumer.
    assert len(drain(rabbit_url, topology.queues("notifier").work)) == 1


def test_work_queues_are_not_peeked_unless_asked_because_a_peek_counts_as_a_delivery(rabbit_url, topology, publisher):
    work = topology.queues("notifier").work
    publisher.publish(case_closed())

    report = until_report(rabbit_url, topology, lambda r: queue(r, work.name)["ready"] == 1)

    assert queue(report, work.name)["oldest_age_seconds"] is None
    [message] = drain(rabbit_url, work)
    assert (message.headers or {}).get("x-delivery-count", 0) == 0


def test_a_dead_letter_queue_that_is_not_empty_raises_an_alert(rabbit_url, topology, publisher):
    dead = topology.queues("notifier").dead.name
    with running_consumer(rabbit_url, topology, "notifier", lambda envelope: None):
        publisher.publish_raw(b"{poison", "case.closed", message_id="poison-1", correlation_id="t")
        an_hour_later = time.time() + 3600

        report = until_report(rabbit_url, topology, lambda r: queue(r, dead)["ready"] == 1,
                              clock=lambda: an_hour_later)

    assert alerts(report, "dead_letters") == [dead]
    assert queue(report, dead)["oldest_age_seconds"] >= 3600 - 60  # dead-letter queues are peeked safely
    assert len(drain(rabbit_url, topology.queues("notifier").dead)) == 1  # and nothing was taken


def test_an_open_provider_circuit_read_from_the_notifiers_metrics_raises_an_alert(rabbit_url, topology, tmp_path,
                                                                                   monkeypatch):
    class Down:
        name = "twilio"

        def send(self, message):
            raise ProviderUnavailable("429", "20429")

    breaker = CircuitBreaker(Down(), BreakerRules(failures=1, cooldown_seconds=3600))
    with pytest.raises(ProviderUnavailable):
        breaker.send(object())
    metrics.record_deferral("circuit_open", breaker)  # what the notifier's dispatcher reports
    set_environment(monkeypatch, DATA_DIR=str(tmp_path),
                    NOTIFIER_DATABASE_URL=migrated_database(tmp_path, "notifier"))
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    from services.notifier.app import create_app

    with root_logging_kept():
        app = create_app()
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        report = watch(rabbit_url, topology.namespace, circuits=lambda: notifier_circuits(url))
    finally:
        server.shutdown()
        app.extensions["notifier.db"].dispose()

    assert alerts(report, "circuit_open") == ["twilio"]
    closed = watch(rabbit_url, topology.namespace, circuits=lambda: {"twilio": 0.0})
    assert alerts(closed, "circuit_open") == []


def test_unreadable_notifier_metrics_say_the_circuits_are_unknown(rabbit_url, topology):
    report = watch(rabbit_url, topology.namespace, circuits=lambda: notifier_circuits("http://127.0.0.1:9/metrics"))

    assert alerts(report, "circuit_unknown") == ["notifier"]


def test_without_the_management_api_depth_and_consumers_come_from_passive_declares(rabbit_url, topology, publisher):
    work = topology.queues("notifier").work.name
    publisher.publish(case_closed())
    publisher.publish(case_closed())

    report = watch(rabbit_url, topology.namespace, management="http://guest:guest@127.0.0.1:9",
                   rules=HealthRules(max_depth=1), circuits=NO_CIRCUITS)

    assert report["source"] == "amqp"
    assert queue(report, work)["ready"] == 2 and queue(report, work)["consumers"] == 0
    assert work in alerts(report, "no_consumers") and alerts(report, "depth") == [work]


def test_the_report_lists_queues_that_were_never_declared_as_empty_and_unconsumed(rabbit_url, namespace):
    fresh = Topology(namespace + "never.")
    report = watch(rabbit_url, fresh.namespace, circuits=NO_CIRCUITS)

    assert all(q["ready"] == 0 and q["consumers"] == 0 for q in report["queues"])
    assert fresh.queues("cases").work.name in alerts(report, "no_consumers")
