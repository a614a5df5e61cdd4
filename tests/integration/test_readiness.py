"""Readiness and refusal when a service's database or broker is gone."""
from __future__ import annotations

import uuid

import pytest
from twilio.request_validator import RequestValidator

from services.cases.app import create_app as cases_app
from services.gateway.app import create_app as gateway_app
from services.notifier.app import create_app as notifier_app

NOWHERE_DB = "postgresql://postgres@127.0.0.1:1/nothing"  # port 1: connection refused at once
NOWHERE_BROKER = "amqp://guest:guest@127.0.0.1:1//"


@pytest.fixture
def embedded_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("APP_ENV", "test")
    for name in ("BROKER_URL", "CASES_DATABASE_URL", "NOTIFIER_DATABASE_URL", "GATEWAY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("factory", [cases_app, notifier_app, gateway_app], ids=["cases", "notifier", "gateway"])
def test_readyz_names_the_unreachable_broker_and_answers_503(embedded_env, factory):
    embedded_env.setenv("BROKER_URL", NOWHERE_BROKER)
    client = factory().test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "broker": "down"}


@pytest.mark.parametrize("factory", [cases_app, notifier_app, gateway_app], ids=["cases", "notifier", "gateway"])
def test_readyz_names_the_unreachable_database_and_answers_503(embedded_env, factory):
    client = factory({"DATABASE_URL": NOWHERE_DB}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "down", "broker": "ok"}


def test_readyz_is_200_when_database_and_broker_answer(embedded_env):
    response = cases_app().test_client().get("/readyz")
    assert response.status_code == 200


def test_webhook_gets_503_when_its_event_cannot_be_stored_so_twilio_retries(embedded_env):
    embedded_env.setenv("GATEWAY_PUBLIC_URL", "http://gw.test")
    embedded_env.setenv("TWILIO_AUTH_TOKEN", "tok")
    app = gateway_app({"DATABASE_URL": NOWHERE_DB})
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": "+8613800138001", "Body": "hi", "To": "+1"}
    signature = RequestValidator("tok").compute_signature("http://gw.test/webhooks/twilio/sms", params)
    response = app.test_client().post("/webhooks/twilio/sms", data=params,
                                      headers={"X-Twilio-Signature": signature})
    assert response.status_code == 503
    assert response.get_json()["code"] == 503


def _signed_inbound(body: str = "hi") -> tuple[dict, dict]:
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": "+8613800138001", "Body": body, "To": "+1"}
    signature = RequestValidator("tok").compute_signature("http://gw.test/webhooks/twilio/sms", params)
    return params, {"X-Twilio-Signature": signature}


@pytest.mark.postgres
def test_gateway_without_pre_ping_recovers_after_the_database_drops_its_connections(
        embedded_env, postgres_url):
    """The gateway skips the pool's pre-ping: a stale connection costs one 503 (Twilio retries), never more."""
    embedded_env.setenv("GATEWAY_PUBLIC_URL", "http://gw.test")
    embedded_env.setenv("TWILIO_AUTH_TOKEN", "tok")
    app = gateway_app({"DATABASE_URL": postgres_url})
    engine = app.extensions["gateway.db"]
    try:
        _recovers(app, engine, postgres_url)
    finally:
        engine.dispose()


def _recovers(app, engine, postgres_url: str) -> None:
    from sqlalchemy import create_engine, func, select, text

    from services.gateway.tables import metadata, webhook_receipts

    metadata.create_all(engine)
    client = app.test_client()
    first, first_headers = _signed_inbound()
    assert client.post("/webhooks/twilio/sms", data=first, headers=first_headers).status_code == 200
    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = :name AND pid <> pg_backend_pid()"),
                           {"name": engine.url.database})
    admin.dispose()
    retried, retried_headers = _signed_inbound("下周五交")
    answers = [client.post("/webhooks/twilio/sms", data=retried, headers=retried_headers).status_code
               for _ in range(2)]
    assert answers in ([503, 200], [200, 200])  # at most the one stale connection fails
    again = client.post("/webhooks/twilio/sms", data=retried, headers=retried_headers)
    assert again.status_code == 200
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(webhook_receipts)
                                   .where(webhook_receipts.c.key == f"twilio-sms:{retried['MessageSid']}"))
    assert stored == 1
