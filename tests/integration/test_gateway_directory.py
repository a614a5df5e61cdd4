"""The gateway learns where owners live from the bus (RabbitMQ) into PostgreSQL, and reads replies there."""
from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.gateway.app import create_app
from services.gateway.directory import place_of
from services.gateway.handlers import EVENT_HANDLERS
from services.gateway.tables import inbox, outbox
from shared.db import make_engine
from shared.dispatch import InboxDispatcher
from shared.envelope import decode, new_event
from shared.messaging import EventPublisher, connect
from shared.topology import Topology
from tests import support
from tests.integration.bus import running_consumer, wait_for
from tests.unit.sqlite_services import root_logging_kept, set_environment

pytestmark = [pytest.mark.broker, pytest.mark.postgres]
PUBLIC_URL = "http://gw.test"
AUTH_TOKEN = "gateway-twilio-token"
OWNER = "+8613800138001"
RECEIVED = datetime(2026, 3, 16, 1, 30, tzinfo=UTC)  # Monday in Shanghai, still Sunday in Los Angeles


@pytest.fixture
def engine(postgres_url):
    support.migrate_postgres("gateway", postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine, postgres_url, monkeypatch, tmp_path):
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=postgres_url, DATA_DIR=str(tmp_path),
                    GATEWAY_PUBLIC_URL=PUBLIC_URL, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    with root_logging_kept():
        app = create_app({"GATEWAY_NOW": lambda: RECEIVED})
    yield app
    app.extensions["gateway.db"].dispose()


def reminder(community: str, locale: str = "en"):
    return new_event("reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": "case-1", "community": community, "stage": "reminder",
        "channels": ["sms"], "recipient": {"owner_id": "owner-1", "name": "Emily", "phone": OWNER, "locale": locale},
        "template": "reminder"})


def test_the_gateway_consumer_learns_each_owners_community_and_timezone_from_the_bus(
        rabbit_url, namespace, engine, app):
    topology = Topology(namespace)
    publisher = EventPublisher(connect(rabbit_url), topology)
    configured = new_event("community.configured", {
        "community": "pacific-heights", "timezone": "America/Los_Angeles", "locale": "en",
        "send_windows": ["09:30"], "quiet_start": "21:00", "quiet_end": "08:00", "skip_weekends": False})
    first, moved = reminder("river-view"), reminder("pacific-heights")
    try:
        with running_consumer(rabbit_url, topology, "gateway", InboxDispatcher(engine, inbox, EVENT_HANDLERS)):
            for event in (configured, first, moved, moved):  # the owner moved; the last is a redelivery
                publisher.publish(event)

            def known():
                with engine.connect() as connection:
                    return place_of(connection, "sms", OWNER).timezone == "America/Los_Angeles"
            wait_for(known)
    finally:
        publisher.connection.release()

    params = {"MessageSid": "SM" + secrets.token_hex(16), "From": OWNER, "To": "+15005550006", "Body": "明天交"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio/sms", params)
    assert app.test_client().post("/webhooks/twilio/sms", data=params,
                                  headers={"X-Twilio-Signature": signature}).status_code == 200

    with engine.connect() as connection:
        [reply] = [decode(body).payload for body in connection.execute(select(outbox.c.body)).scalars()]
        assert connection.execute(select(inbox.c.message_id)).scalars().all().count(moved.id) == 1
    assert reply["promised_date"] == date(2026, 3, 16)


def test_a_retried_webhook_with_the_same_idempotency_token_has_one_effect_on_postgresql(app, engine):
    client = app.test_client()
    for body in ("退订", "过几天交"):  # a retry that differs in everything but its token
        params = {"MessageSid": "SM" + secrets.token_hex(16), "From": OWNER, "To": "+15005550006", "Body": body}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio/sms", params)
        response = client.post("/webhooks/twilio/sms", data=params, headers={
            "X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": "retry-token-1"})
        assert response.status_code == 200

    with engine.connect() as connection:
        types = [decode(body).type for body in connection.execute(select(outbox.c.body).order_by(outbox.c.seq))
                 .scalars()]
    assert types == ["owner.replied", "suppression.changed", "autoreply.requested"]
