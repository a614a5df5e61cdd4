"""Dead letters on the real RabbitMQ and PostgreSQL: inspect (masked), replay with one effect, purge, audit.

A poisoned message is dead-lettered by the real consumer; ops look at it and replay it with the
CLI (`python -m services.cases dlq …`) and the API; the consumer's inbox makes a second replay
of a message it already handled a no-op. Every action lands in ops_audit with who did it.
"""
from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select

from services.cases.dead_letters import DeadLetterBox
from services.cases.tables import inbox, ops_audit
from shared.auth import issue_token
from shared.consumer import PermanentFailure
from shared.db import make_engine
from shared.dispatch import InboxDispatcher
from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.topology import Topology
from tests import support
from tests.integration.bus import running_consumer, wait_for
from tests.unit.sqlite_services import ROOT, root_logging_kept, set_environment

pytestmark = [pytest.mark.broker, pytest.mark.postgres]
PHONE, WORDS = "+8613800138001", "下周五交，别再发了"


def owner_replied():
    return new_event("owner.replied", {
        "channel": "sms", "sender": PHONE, "recipient": None, "body": WORDS,
        "provider_message_id": "SM" + uuid.uuid4().hex, "received_at": datetime.now(UTC),
    })


@pytest.fixture
def database(postgres_url):
    support.migrate_postgres("cases", postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


class Effects:
    """The cases consumer's stand-in: records each reply it handles; poisoned, it refuses them."""

    def __init__(self, engine):
        self.engine = engine
        self.table = Table("effects", MetaData(), Column("message_id", String(64), nullable=False))
        self.table.metadata.create_all(engine)
        self.poisoned = threading.Event()
        self.dispatch = InboxDispatcher(engine, inbox, {"owner.replied": self.handle})

    def handle(self, connection, envelope):
        if self.poisoned.is_set():
            raise PermanentFailure("the handler cannot read this reply")
        connection.execute(insert(self.table).values(message_id=envelope.id))

    def of(self, message_id: str) -> int:
        with self.engine.connect() as connection:
            return len(connection.execute(select(self.table).where(self.table.c.message_id == message_id)).all())


@pytest.fixture
def world(rabbit_url, namespace, database):
    topology = Topology(namespace)
    publisher = EventPublisher(connect(rabbit_url), topology)
    yield topology, publisher, Effects(database)
    publisher.connection.release()


def dlq(rabbit_url, namespace, postgres_url, *args, stdin: str = "") -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "APP_ENV": "test",
           "BROKER_URL": rabbit_url, "BROKER_NAMESPACE": namespace, "CASES_DATABASE_URL": postgres_url}
    return subprocess.run([sys.executable, "-m", "services.cases", "dlq", *args], env=env, cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=120)


def depth(rabbit_url, queue) -> int:
    with connect(rabbit_url) as connection:
        return queue(connection.default_channel).queue_declare(passive=True).message_count


def dead_letter_one(rabbit_url, world):
    """Publish a reply while the handler is poisoned: the real consumer dead-letters it."""
    topology, publisher, effects = world
    event = owner_replied()
    effects.poisoned.set()
    with running_consumer(rabbit_url, topology, "cases", effects.dispatch):
        publisher.publish(event)
        wait_for(lambda: depth(rabbit_url, topology.queues("cases").dead) == 1)
    return event


def audit_rows(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(select(ops_audit).order_by(ops_audit.c.id)).all()


def test_a_poisoned_message_is_inspected_and_replayed_from_the_cli_and_handled_once(
        rabbit_url, namespace, postgres_url, database, world):
    topology, publisher, effects = world
    event = dead_letter_one(rabbit_url, world)
    message_id = event.id

    listed = dlq(rabbit_url, namespace, postgres_url, "list", "cases")
    shown = dlq(rabbit_url, namespace, postgres_url, "show", "cases", message_id)

    assert listed.returncode == 0, listed.stderr
    assert message_id in listed.stdout and "owner.replied" in listed.stdout
    assert shown.returncode == 0, shown.stderr
    item = json.loads(shown.stdout)
    assert (item["message_id"], item["type"], item["origin"]) == (message_id, "owner.replied",
                                                                  topology.queues("cases").work.name)
    assert item["deaths"][0]["reason"] == "rejected"
    assert item["deaths"][0]["queue"] == topology.queues("cases").work.name and item["deaths"][0]["count"] == 1
    assert item["correlation_id"]
    # Personal data is masked in what ops see and in the logs.
    assert item["payload"]["sender"] == "***01" and item["payload"]["body"] == f"<{len(WORDS)} chars>"
    for output in (listed.stdout, listed.stderr, shown.stdout, shown.stderr):
        assert PHONE not in output and WORDS not in output and "13800138001" not in output
    assert depth(rabbit_url, topology.queues("cases").dead) == 1  # looking took nothing away

    effects.poisoned.clear()  # the handler is fixed
    with running_consumer(rabbit_url, topology, "cases", effects.dispatch):
        replayed = dlq(rabbit_url, namespace, postgres_url, "replay", "cases", message_id)
        assert replayed.returncode == 0, replayed.stderr
        wait_for(lambda: effects.of(message_id) == 1)

        # An old copy of the same message, dead-lettered again and replayed: the inbox ignores it.
        dead = topology.queues("cases").dead
        publisher.publish_raw(event.to_json(), dead.routing_key, exchange=topology.dead_letters,
                              message_id=message_id, correlation_id=event.correlation_id)
        again = dlq(rabbit_url, namespace, postgres_url, "replay", "cases", "--all")
        assert again.returncode == 0 and "replayed 1 message(s)" in again.stdout
        marker = owner_replied()
        publisher.publish(marker)  # behind the copy in the work queue
        wait_for(lambda: effects.of(marker.id) == 1)

    assert effects.of(message_id) == 1
    assert depth(rabbit_url, topology.queues("cases").dead) == 0
    rows = audit_rows(database)
    assert [(r.action, r.affected) for r in rows] == [("list", 1), ("show", 1), ("replay", 1), ("replay_all", 1)]
    assert {(r.actor, r.actor_kind) for r in rows} == {(getpass.getuser(), "os_user")}
    assert rows[2].message_id == message_id and rows[2].queue == topology.queues("cases").dead.name
    logged = [json.loads(line) for line in replayed.stderr.splitlines() if line.startswith("{")]
    assert any(entry["message"] == "ops action" and entry["action"] == "replay" and entry["actor"] == getpass.getuser()
               for entry in logged)


def test_purge_needs_the_queue_name_typed_or_yes(rabbit_url, namespace, postgres_url, database, world):
    topology, publisher, _ = world
    dead = topology.queues("cases").dead
    for n in range(2):
        publisher.publish_raw(b"{poison", dead.routing_key, exchange=topology.dead_letters, message_id=f"p-{n}",
                              correlation_id="t")

    refused = dlq(rabbit_url, namespace, postgres_url, "purge", "cases", stdin="cases.dead\n")
    assert refused.returncode != 0 and depth(rabbit_url, dead) == 2  # not the namespaced name: refused

    purged = dlq(rabbit_url, namespace, postgres_url, "purge", "cases", stdin=f"{dead.name}\n")

    assert purged.returncode == 0, purged.stderr
    assert "purged 2 message(s)" in purged.stdout and depth(rabbit_url, dead) == 0
    assert [(r.action, r.affected) for r in audit_rows(database)] == [("purge", 2)]
    publisher.publish_raw(b"{poison", dead.routing_key, exchange=topology.dead_letters, message_id="p-3",
                          correlation_id="t")
    assert dlq(rabbit_url, namespace, postgres_url, "purge", "cases", "--yes").returncode == 0
    assert depth(rabbit_url, dead) == 0


def test_an_unknown_service_is_refused_by_the_cli(rabbit_url, namespace, postgres_url, database):
    result = dlq(rabbit_url, namespace, postgres_url, "list", "billing")

    assert result.returncode != 0 and "no service 'billing'" in result.stderr
    assert audit_rows(database) == []


@pytest.fixture
def client(rabbit_url, namespace, postgres_url, database, tmp_path, monkeypatch):
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), BROKER_URL=rabbit_url, BROKER_NAMESPACE=namespace,
                    CASES_DATABASE_URL=postgres_url, SECRET_KEY="ops-secret")
    from services.cases.app import create_app

    with root_logging_kept():
        app = create_app({"OPS_CIRCUITS": dict})
    yield app.test_client()
    app.extensions["cases.db"].dispose()


def admin():
    return {"Authorization": f"Bearer {issue_token('ops-secret', 'ops-on-call', 'admin')}"}


def test_the_api_lists_masked_dead_letters_and_replays_one_with_one_effect(rabbit_url, client, database, world):
    topology, _, effects = world
    message_id = dead_letter_one(rabbit_url, world).id

    listed = client.get("/api/v1/ops/dead-letters/cases", headers=admin())
    shown = client.get(f"/api/v1/ops/dead-letters/cases/{message_id}", headers=admin())

    assert listed.status_code == 200
    assert [i["message_id"] for i in listed.get_json()["items"]] == [message_id]
    assert shown.get_json()["payload"]["sender"] == "***01"
    assert PHONE not in listed.get_data(as_text=True) and WORDS not in shown.get_data(as_text=True)
    effects.poisoned.clear()
    with running_consumer(rabbit_url, topology, "cases", effects.dispatch):
        replayed = client.post("/api/v1/ops/dead-letters/cases/replay", json={"message_id": message_id},
                               headers=admin())
        missing = client.post("/api/v1/ops/dead-letters/cases/replay", json={"message_id": message_id},
                              headers=admin())
        wait_for(lambda: effects.of(message_id) == 1)

    assert replayed.status_code == 200 and replayed.get_json()["replayed"] == [message_id]
    assert missing.status_code == 404  # gone from the dead-letter queue once replayed
    rows = audit_rows(database)
    assert [(r.action, r.actor, r.actor_kind) for r in rows] == [
        ("list", "ops-on-call", "staff"), ("show", "ops-on-call", "staff"), ("replay", "ops-on-call", "staff")]


@pytest.mark.parametrize("body", [{}, {"message_id": "m", "all": True}, {"all": False}, {"all": True, "x": 1}],
                         ids=["neither", "both", "all-false", "unknown-field"])
def test_a_replay_must_name_one_message_or_all(client, body, database):
    response = client.post("/api/v1/ops/dead-letters/cases/replay", json=body, headers=admin())

    assert response.status_code == 422
    assert set(response.get_json()) == {"code", "status", "message", "errors"}
    assert audit_rows(database) == []


def test_the_api_purges_only_with_the_queue_name_as_confirmation(rabbit_url, client, database, world):
    topology, publisher, _ = world
    dead = topology.queues("cases").dead
    publisher.publish_raw(b"{poison", dead.routing_key, exchange=topology.dead_letters, message_id="p-1",
                          correlation_id="t")

    wrong = client.post("/api/v1/ops/dead-letters/cases/purge", json={"confirm": "yes"}, headers=admin())
    assert wrong.status_code == 422 and "confirm" in wrong.get_json()["errors"]
    assert depth(rabbit_url, dead) == 1 and audit_rows(database) == []

    right = client.post("/api/v1/ops/dead-letters/cases/purge", json={"confirm": dead.name}, headers=admin())

    assert right.status_code == 200 and right.get_json() == {"queue": dead.name, "purged": 1}
    assert depth(rabbit_url, dead) == 0
    assert [(r.action, r.affected, r.actor) for r in audit_rows(database)] == [("purge", 1, "ops-on-call")]


def test_an_unknown_service_has_no_dead_letters(client):
    response = client.get("/api/v1/ops/dead-letters/billing", headers=admin())

    assert response.status_code == 404 and set(response.get_json()) == {"code", "status", "message", "errors"}


def test_the_ops_queue_report_is_served_to_managers(client):
    manager = {"Authorization": f"Bearer {issue_token('ops-secret', 'm-1', 'manager', ['lakeside-garden'])}"}

    response = client.get("/api/v1/ops/queues", headers=manager)

    assert response.status_code == 200
    body = response.get_json()
    assert body["source"] == "management" and {q["kind"] for q in body["queues"]} == {"work", "retry", "dead"}


def test_on_the_embedded_transport_the_reason_is_shown_and_a_replay_has_one_effect(tmp_path):
    """`make run`'s broker: kombu's SQLAlchemy transport, where our consumer writes x-death-reason."""
    from tests.unit.sqlite_services import migrated_database

    broker, cases_url, topology = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}", migrated_database(tmp_path, "cases"), \
        Topology("embedded.")
    engine = make_engine(cases_url)
    effects = Effects(engine)
    publisher = EventPublisher(connect(broker), topology)
    event = owner_replied()
    effects.poisoned.set()
    with running_consumer(broker, topology, "cases", effects.dispatch):
        publisher.publish(event)
        wait_for(lambda: DeadLetterBox(broker, topology.namespace).list("cases"))

    shown = dlq(broker, topology.namespace, cases_url, "show", "cases", event.id)
    item = json.loads(shown.stdout)
    assert item["death_reason"] == "permanent: the handler cannot read this reply"
    assert item["origin"] == topology.queues("cases").work.name and item["payload"]["sender"] == "***01"

    effects.poisoned.clear()
    with running_consumer(broker, topology, "cases", effects.dispatch):
        assert dlq(broker, topology.namespace, cases_url, "replay", "cases", event.id).returncode == 0
        wait_for(lambda: effects.of(event.id) == 1)
        publisher.publish(event)  # delivered once more, as after a second replay: no second effect
        marker = owner_replied()
        publisher.publish(marker)
        wait_for(lambda: effects.of(marker.id) == 1)

    publisher.connection.release()
    assert effects.of(event.id) == 1
    assert DeadLetterBox(broker, topology.namespace).list("cases") == []
    engine.dispose()
