"""The health rules' thresholds come from the environment, and each rule reads the numbers it names."""
from __future__ import annotations

import pytest

from shared.config import ConfigError
from shared.queue_watch import HealthRules, QueueStats, evaluate, load_health_rules, management_url

NOW = 1_750_000_000.0


def test_thresholds_are_read_from_the_environment_with_defaults():
    assert load_health_rules({}) == HealthRules()
    rules = load_health_rules({"OPS_MAX_QUEUE_DEPTH": "50", "OPS_MAX_MESSAGE_AGE_SECONDS": "120",
                               "OPS_MAX_DEAD_LETTERS": "2", "OPS_ALERT_NO_CONSUMERS": "false",
                               "OPS_PEEK_WORK_QUEUES": "true"})

    assert rules == HealthRules(max_depth=50, max_age_seconds=120, max_dead_letters=2, alert_no_consumers=False,
                                peek_work_queues=True)


@pytest.mark.parametrize("name, raw", [("OPS_MAX_QUEUE_DEPTH", "lots"), ("OPS_MAX_MESSAGE_AGE_SECONDS", "-1"),
                                       ("OPS_MAX_DEAD_LETTERS", "1.5")])
def test_a_threshold_that_is_not_a_number_stops_with_its_name(name, raw):
    with pytest.raises(ConfigError, match=name):
        load_health_rules({name: raw})


def stats(kind: str, **numbers) -> QueueStats:
    return QueueStats(f"notifier.{kind}", "notifier", kind, **numbers)


@pytest.mark.parametrize("queue, rule", [
    (stats("events", ready=0, unacked=0, consumers=0), "no_consumers"),
    (stats("events", ready=900, unacked=101, consumers=1), "depth"),
    (stats("events", ready=1, unacked=0, consumers=1, oldest_age_seconds=301), "oldest_age"),
    (stats("dead", ready=1, unacked=0, consumers=0), "dead_letters"),
], ids=["no-consumers", "depth", "oldest-age", "dead-letters"])
def test_each_rule_trips_past_its_threshold_and_not_at_it(queue, rule):
    queue.kind = "dead" if queue.name.endswith("dead") else "work"
    tripped = evaluate([queue], {}, HealthRules(), NOW)

    assert [a.rule for a in tripped] == [rule]
    quiet = {"depth": HealthRules(max_depth=1001), "oldest_age": HealthRules(max_age_seconds=301),
             "dead_letters": HealthRules(max_dead_letters=1), "no_consumers": HealthRules(alert_no_consumers=False)}
    assert evaluate([queue], {}, quiet[rule], NOW) == []


def test_retry_and_dead_letter_queues_need_no_consumers():
    queues = [stats("retry", ready=0, unacked=0, consumers=0), stats("dead", ready=0, unacked=0, consumers=0)]
    queues[0].kind = "retry"

    assert evaluate(queues, {}, HealthRules(), NOW) == []


def test_a_circuit_is_open_only_until_its_time_and_unknown_when_the_notifier_is_unreadable():
    assert [a.subject for a in evaluate([], {"twilio": NOW + 30, "sendgrid": 0.0}, HealthRules(), NOW)] == ["twilio"]
    assert evaluate([], {"twilio": NOW - 1}, HealthRules(), NOW) == []
    assert [a.rule for a in evaluate([], None, HealthRules(), NOW)] == ["circuit_unknown"]


@pytest.mark.parametrize("broker, override, expected", [
    ("amqp://guest:guest@rabbit:5672/fees", None, ("http://guest:guest@rabbit:15672", "fees")),
    ("amqp://ops:s%40cret@rabbit:5672/", None, ("http://ops:s%40cret@rabbit:15672", "/")),
    ("amqps://u:p@mq.example.cn:5671/prod", "https://u:p@mq.example.cn/admin/", ("https://u:p@mq.example.cn/admin", "prod")),
])
def test_the_management_url_is_derived_from_the_broker_url_unless_given(broker, override, expected):
    assert management_url(broker, override) == expected


@pytest.fixture
def client_without_broker(tmp_path, monkeypatch):
    from services.cases.app import create_app
    from tests.unit.sqlite_services import migrated_database, root_logging_kept, set_environment

    set_environment(monkeypatch, DATA_DIR=str(tmp_path), BROKER_URL="amqp://guest:guest@127.0.0.1:9/",
                    CASES_DATABASE_URL=migrated_database(tmp_path, "cases"), SECRET_KEY="s")
    monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:9")
    with root_logging_kept():
        app = create_app({"OPS_CIRCUITS": dict})
    yield app.test_client()
    app.extensions["cases.db"].dispose()


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/v1/ops/queues", None),
    ("GET", "/api/v1/ops/dead-letters/notifier", None),
    ("POST", "/api/v1/ops/dead-letters/notifier/replay", {"all": True}),
    ("POST", "/api/v1/ops/dead-letters/notifier/purge", {"confirm": "notifier.dead"}),
], ids=["queues", "list", "replay", "purge"])
def test_a_broker_that_is_down_is_a_503_in_the_error_shape(client_without_broker, method, path, body):
    from shared.auth import issue_token

    response = client_without_broker.open(path, method=method, json=body,
                                          headers={"Authorization": f"Bearer {issue_token('s', 'ops', 'admin')}"})

    assert response.status_code == 503
    assert set(response.get_json()) == {"code", "status", "message", "errors"}
    assert "unreachable" in response.get_json()["message"]
