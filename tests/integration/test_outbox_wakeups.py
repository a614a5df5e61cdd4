"""On PostgreSQL the outbox relay wakes when a transaction stages events, not at its next poll."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from services.gateway.tables import outbox
from shared.db import make_engine
from shared.envelope import new_event
from shared.migrations import upgrade
from shared.outbox import OutboxRelay, add_to_outbox

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
LONG_POLL = 60.0  # far longer than any wait below: only a wakeup can explain a prompt relay


class RecordingPublisher:
    """Stands in for the broker publisher: what the relay handed over, and when."""

    def __init__(self):
        self.published: list[str] = []
        self.arrived = threading.Event()

    def publish_many(self, batch) -> None:
        self.published.extend(item.message_id for item in batch)
        self.arrived.set()


@pytest.fixture
def engine(postgres_url):
    upgrade(ROOT / "services" / "gateway" / "migrations", postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def relay(engine):
    publisher = RecordingPublisher()
    stop = threading.Event()
    threads = []

    def start(poll_seconds: float):
        thread = threading.Thread(target=OutboxRelay(engine, outbox, publisher).run, args=(stop, poll_seconds),
                                  daemon=True)
        thread.start()
        threads.append(thread)
        time.sleep(0.5)  # let it drain the empty outbox and start listening
        return publisher

    yield start
    stop.set()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive(), "the relay did not stop within a few seconds of being asked"


def stage(engine) -> str:
    event = new_event("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": "SM" + uuid.uuid4().hex,
        "notification_id": None, "status": "delivered", "error_code": None, "reported_at": datetime.now(UTC)})
    with engine.begin() as connection:
        add_to_outbox(connection, outbox, event)
    return event.id


def test_a_staged_event_is_relayed_at_once_however_long_the_poll(engine, relay):
    publisher = relay(LONG_POLL)

    staged_at = time.monotonic()
    event_id = stage(engine)

    assert publisher.arrived.wait(10), "the relay was not woken by the commit"
    assert publisher.published == [event_id]
    assert time.monotonic() - staged_at < 10


def test_when_the_listener_connection_is_dropped_the_relay_falls_back_to_polling(engine, relay):
    publisher = relay(1.0)
    with engine.connect() as connection:  # the database drops the relay's listening connection
        dropped = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")).scalar()
    assert dropped == 1

    event_id = stage(engine)

    assert publisher.arrived.wait(15), "the relay stopped relaying when its listener went away"
    assert publisher.published == [event_id]
