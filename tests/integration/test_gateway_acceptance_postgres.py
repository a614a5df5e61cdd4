"""Accepting a webhook on PostgreSQL: receipts and events in one statement, once, all or nothing."""
from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.gateway.acceptance import accept_once, accept_read
from services.gateway.tables import outbox, webhook_receipts
from shared.db import make_engine
from shared.envelope import decode, new_event
from shared.migrations import upgrade

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(postgres_url, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "acceptance-test-secret")
    upgrade(ROOT / "services" / "gateway" / "migrations", postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def status(status: str = "delivered"):
    return new_event("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": "SM" + uuid.uuid4().hex,
        "notification_id": None, "status": status, "error_code": None, "reported_at": datetime.now(UTC)})


def stored(engine) -> list:
    with engine.connect() as connection:
        return [decode(body) for body in connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars()]


def receipts(engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(webhook_receipts.c.key)).scalars())


def test_a_new_delivery_stores_its_keys_and_its_events_in_order(engine):
    first, second, third = status("sent"), status("delivered"), status("open")

    assert accept_once(engine, ("sid-1", "token-1"), first, second, third) is True

    assert [e.id for e in stored(engine)] == [first.id, second.id, third.id]
    assert receipts(engine) == {"sid-1", "token-1"}


def test_a_delivery_seen_under_any_of_its_keys_stores_nothing_and_records_no_new_key(engine):
    accept_once(engine, ("sid-1", "token-1"), status())

    assert accept_once(engine, ("sid-1", "token-2"), status()) is False
    assert accept_once(engine, ("sid-2", "token-1"), status()) is False

    assert len(stored(engine)) == 1
    assert receipts(engine) == {"sid-1", "token-1"}
    assert accept_once(engine, ("sid-3", "token-2"), status()) is True  # the refused retry did not use it up


def test_the_same_delivery_racing_on_eight_threads_is_stored_once(engine):
    outcomes: list[bool] = []
    barrier = threading.Barrier(8)

    def deliver():
        barrier.wait()
        outcomes.append(accept_once(engine, ("sid-race", "token-race"), status()))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == [False] * 7 + [True]
    assert len(stored(engine)) == 1


def test_when_the_events_cannot_be_stored_the_receipts_are_not_kept_either(engine):
    event = status()
    accept_once(engine, "sid-1", event)

    with pytest.raises(IntegrityError):  # the same event id again: the outbox refuses it
        accept_once(engine, "sid-2", event)

    assert receipts(engine) == {"sid-1"}
    assert accept_once(engine, "sid-2", status()) is True


def test_the_reader_runs_on_the_accepting_connection_and_its_failure_stores_nothing(engine):
    def read(connection):
        assert connection.scalar(select(func.count()).select_from(webhook_receipts)) == 0
        raise RuntimeError("the reader broke")

    with pytest.raises(RuntimeError):
        accept_read(engine, "sid-1", read)

    assert receipts(engine) == set() and stored(engine) == []


def test_an_owners_reply_is_stored_with_the_auto_reply_it_calls_for(engine):
    reply = new_event("owner.replied", {
        "channel": "sms", "sender": "+8613800138001", "recipient": "+15005550006", "body": "帮助",
        "provider_message_id": "SM" + uuid.uuid4().hex, "received_at": datetime.now(UTC), "intent": "help",
        "language": "zh-CN"})

    assert accept_once(engine, "sid-help", reply) is True

    [first, answer] = stored(engine)
    assert first.id == reply.id
    assert answer.type == "autoreply.requested" and answer.payload["kind"] == "help"
    assert answer.payload["address"] == "+8613800138001"
