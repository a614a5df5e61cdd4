"""/metrics on every service: Prometheus text that parses, and counters that move with traffic."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import MetaData

from services.notifier.breaker import BreakerRules, CircuitBreaker
from services.notifier.providers import ProviderUnavailable
from shared import metrics
from shared.db import make_engine
from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.outbox import OutboxRelay, add_to_outbox, outbox_table
from shared.topology import Topology
from tests.integration.bus import running_consumer, wait_for
from tests.unit.sqlite_services import ROOT, migrated_database, root_logging_kept, set_environment


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}; fails unless the text parses."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def local_samples(name: str, **labels) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def apps(tmp_path, monkeypatch):
    set_environment(monkeypatch, DATA_DIR=str(tmp_path),
                    CASES_DATABASE_URL=migrated_database(tmp_path, "cases"),
                    NOTIFIER_DATABASE_URL=migrated_database(tmp_path, "notifier"),
                    GATEWAY_DATABASE_URL=migrated_database(tmp_path, "gateway"))
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    from services.cases.app import create_app as cases_app
    from services.gateway.app import create_app as gateway_app
    from services.notifier.app import create_app as notifier_app

    with root_logging_kept():
        built = {"cases": cases_app({"OPS_CIRCUITS": lambda: {}}), "notifier": notifier_app(), "gateway": gateway_app()}
    yield built
    for service, app in built.items():
        app.extensions[f"{service}.db"].dispose()


@pytest.mark.parametrize("service", ["cases", "notifier", "gateway"])
def test_every_service_serves_metrics_that_the_prometheus_parser_reads(apps, service):
    client = apps[service].test_client()
    client.get("/healthz")

    samples = scrape(client)

    assert value(samples, "http_requests_total", method="GET", endpoint="/healthz", status="200") >= 1


def test_requests_are_counted_and_timed_by_url_rule_not_by_raw_path(apps):
    client = apps["cases"].test_client()
    before = scrape(client)
    for case_id in ("case-1", "case-2"):
        client.get(f"/api/v1/cases/{case_id}")  # 401 without a token: still a request to that endpoint

    after = scrape(client)

    labels = {"method": "GET", "endpoint": "/api/v1/cases/<case_id>"}
    assert value(after, "http_requests_total", status="401", **labels) - \
        value(before, "http_requests_total", status="401", **labels) == 2
    assert value(after, "http_request_duration_seconds_count", **labels) - \
        value(before, "http_request_duration_seconds_count", **labels) == 2
    assert not any("case-1" in str(key) for key in after)


def test_cases_metrics_carry_the_queue_health_gauges(apps, tmp_path):
    topology = Topology()
    publisher = EventPublisher(connect(f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"), topology)
    publisher.publish_raw(b"{dead", "notifier", exchange=topology.dead_letters, message_id="m-1", correlation_id="t")
    publisher.connection.release()

    samples = scrape(apps["cases"].test_client())

    assert value(samples, "ops_queue_watch_up") == 1
    assert value(samples, "ops_queue_messages", queue="notifier.dead", service="notifier", kind="dead",
                 state="ready") == 1
    assert value(samples, "ops_alert", rule="dead_letters", subject="notifier.dead", severity="critical") == 1
    assert value(samples, "ops_alert", rule="dead_letters", subject="cases.dead", severity="critical") == 0


def test_published_consumed_and_rejected_messages_are_counted_per_queue(tmp_path):
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    topology = Topology(f"m{uuid.uuid4().hex[:6]}.")
    work = topology.queues("notifier").work.name
    event = new_event("case.closed", {"case_id": "c-1", "owner_id": "o-1", "reason": "paid"})
    published_before = local_samples("messages_published_total", routing_key="case.closed")
    publisher = EventPublisher(connect(url), topology)
    seen = []
    with running_consumer(url, topology, "notifier", lambda envelope: seen.append(envelope.id)):
        publisher.publish(event)
        publisher.publish_raw(b"{not json", "case.closed", message_id="poison", correlation_id="t")
        wait_for(lambda: seen and local_samples("messages_rejected_total", queue=work, reason="invalid"))
    publisher.connection.release()

    assert local_samples("messages_published_total", routing_key="case.closed") - published_before == 2
    assert local_samples("messages_consumed_total", queue=work) == 1
    assert local_samples("messages_rejected_total", queue=work, reason="invalid") == 1


def test_outbox_lag_is_the_age_of_the_oldest_unpublished_row(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'service.sqlite'}")
    table = outbox_table(MetaData())
    table.metadata.create_all(engine)
    relay = OutboxRelay(engine, table, publisher=None)
    assert relay.lag_seconds() == 0.0
    with engine.begin() as connection:
        add_to_outbox(connection, table, new_event("case.closed", {"case_id": "c", "owner_id": "o", "reason": "paid"}))
        connection.execute(table.update().values(created_at=datetime.now(UTC) - timedelta(hours=1)))

    assert relay.lag_seconds() >= 3600
    engine.dispose()


class Down:
    name = "twilio"

    def send(self, message):
        raise ProviderUnavailable("429 too many requests", "20429")


def test_send_outcomes_deferrals_and_an_open_circuit_are_recorded():
    opened = datetime(2025, 6, 15, 2, 0, tzinfo=UTC)
    breaker = CircuitBreaker(Down(), BreakerRules(failures=1, cooldown_seconds=600),
                             clock=lambda: 100.0, wall_clock=lambda: opened)
    with pytest.raises(ProviderUnavailable):
        breaker.send(object())
    sends_before = local_samples("notifier_sends_total", channel="sms", provider="twilio", outcome="retry")

    metrics.record_send("sms", breaker, "retry")
    metrics.record_deferral("quiet_hours until 08:00")

    assert local_samples("notifier_sends_total", channel="sms", provider="twilio", outcome="retry") == sends_before + 1
    assert local_samples("notifier_deferrals_total", reason="quiet_hours") >= 1
    # The circuit is open for its ten-minute cool-down: the gauge says until when.
    until = local_samples("notifier_circuit_open_until_seconds", provider="twilio")
    assert until == (opened + timedelta(seconds=600)).timestamp()


def test_processes_of_one_service_are_added_up_in_multiprocess_mode(tmp_path):
    """Two processes (say a gunicorn worker and the consumer) count; a third serves the sum."""
    count = textwrap.dedent(f"""
        import sys
        from shared import metrics
        metrics.enable_multiprocess("cases", {str(tmp_path)!r}, clean=sys.argv[1] == "first")
        metrics.messages_consumed().labels("cases.events").inc(3)
    """)
    serve = textwrap.dedent(f"""
        from shared import metrics
        metrics.enable_multiprocess("cases", {str(tmp_path)!r}, clean=False)
        print(metrics.exposition()[0].decode())
    """)
    environment = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    for which in ("first", "second"):  # the first to start clears what earlier runs left
        subprocess.run([sys.executable, "-c", count, which], env=environment, check=True, timeout=60)

    served = subprocess.run([sys.executable, "-c", serve], env=environment, check=True, timeout=60,
                            capture_output=True, text=True).stdout

    families = {f.name: f for f in text_string_to_metric_families(served)}
    [sample] = [s for s in families["messages_consumed"].samples if s.name == "messages_consumed_total"]
    assert sample.value == 6
    assert (tmp_path / "metrics" / "cases").is_dir()


@pytest.mark.parametrize("sentence, label", [
    ("sms already sent to this owner in this window", "window_already_used"),
    ("sms cap of 2 a day reached", "daily_cap"),
    ("cap of 3 messages a day across channels reached", "messages_per_day_cap"),
    ("email cap of 7 in 7 days reached", "weekly_cap"),
    ("community daily budget of 5000 reached", "community_budget"),
    ("twilio circuit open until 2025-06-15 10:00:00", "circuit_open"),
    ("quiet hours until 08:00", "quiet_hours"),
])
def test_a_deferral_is_labelled_by_what_its_reason_says(sentence, label):
    assert metrics.deferral_reason(sentence) == label


def test_refused_webhooks_are_counted_by_endpoint_and_reason(apps):
    client = apps["gateway"].test_client()
    labels = {"endpoint": "/webhooks/twilio/sms", "reason": "signature"}
    before = local_samples("gateway_webhook_rejections_total", **labels)

    refused = client.post("/webhooks/twilio/sms", data={"From": "+8613800138001", "Body": "hi"})

    assert refused.status_code == 403
    assert local_samples("gateway_webhook_rejections_total", **labels) == before + 1
    samples = scrape(client)
    assert value(samples, "gateway_webhook_rejections_total", **labels) == before + 1


def total(name: str, **labels) -> float:
    """Sum of a counter's samples whose labels include `labels` (this process)."""
    from prometheus_client import REGISTRY

    return sum(sample.value for family in REGISTRY.collect() for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def test_the_notifiers_sends_and_deferrals_move_the_counters_as_it_works(tmp_path):
    from datetime import date

    from tests.unit.test_governor import at, worlds

    day = date(2025, 3, 12)
    sent_before = total("notifier_sends_total", outcome="sent")
    deferred_before = total("notifier_deferrals_total")
    with worlds(tmp_path) as build:
        world = build(at(day, "06:00"))
        for slot in range(3):  # three requests the same day: the governor holds some back
            world.request(slot=slot)
        world.run_until(at(day, "23:00"))
        sent = len(world.sms_to("owner-1")) + len(world.emails_to("owner-1"))

    assert sent > 0
    assert total("notifier_sends_total", outcome="sent") - sent_before == sent
    assert total("notifier_deferrals_total") > deferred_before
