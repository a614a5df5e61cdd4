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
