"""Twilio webhooks at the gateway: signed ones are accepted once, anything else is refused."""
from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.gateway.app import MAX_WEBHOOK_BYTES, create_app
from services.gateway.tables import outbox, webhook_receipts
from shared.envelope import decode
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

PUBLIC_URL = "http://gw.test"
AUTH_TOKEN = "gateway-twilio-token"
INBOUND = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path),
                    GATEWAY_PUBLIC_URL=PUBLIC_URL, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    with root_logging_kept():
        app = create_app()
    yield app
    app.extensions["gateway.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def inbound_sms(sid: str | None = None, body: str = "这个月手头紧，我下周五交") -> dict[str, str]:
    sid = sid or message_sid()
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "From": "+8613800138001",
            "To": "+15005550006", "Body": body, "NumMedia": "0"}


def status_callback(sid: str | None = None, status: str = "delivered") -> dict[str, str]:
    sid = sid or message_sid()
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "MessageStatus": status,
            "SmsStatus": status, "ApiVersion": "2010-04-01"}


def signed_post(client, path: str, params: dict, signed_url: str | None = None, token: str = AUTH_TOKEN):
    """POST form params the way Twilio does, signed for `signed_url` (the public URL of `path` by default)."""
    signature = RequestValidator(token).compute_signature(signed_url or PUBLIC_URL + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def outbox_events(app):
    with app.extensions["gateway.db"].connect() as connection:
        bodies = connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
    return [decode(body) for body in bodies]


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == status
    return body


def test_a_signed_inbound_sms_is_answered_with_empty_twiml_and_becomes_an_owner_reply(app, client):
    params = inbound_sms()

    response = signed_post(client, INBOUND, params)

    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert response.get_data(as_text=True).endswith("<Response />")
    [event] = outbox_events(app)
    assert event.type == "owner.replied"
    assert (event.payload["sender"], event.payload["body"], event.payload["provider_message_id"]) == (
        params["From"], params["Body"], params["MessageSid"])


def test_the_same_inbound_sms_delivered_twice_becomes_one_event(app, client):
    params = inbound_sms()

    first = signed_post(client, INBOUND, params)
    second = signed_post(client, INBOUND, params)

    assert (first.status_code, second.status_code) == (200, 200)
    assert row_count(app.extensions["gateway.db"], outbox) == 1
    assert row_count(app.extensions["gateway.db"], webhook_receipts) == 1


@pytest.mark.parametrize("path, params", [(INBOUND, inbound_sms()), (STATUS, status_callback())],
                         ids=["inbound", "status"])
def test_an_unsigned_webhook_is_refused_with_403_and_nothing_stored(app, client, path, params):
    assert_error_shape(client.post(path, data=params), 403)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


@pytest.mark.parametrize("sign", [
    pytest.param(lambda client, params: signed_post(client, INBOUND, params, token="another-token"),
                 id="other-auth-token"),
    pytest.param(lambda client, params: signed_post(client, INBOUND, params,
                                                    signed_url=f"http://evil.test{INBOUND}"), id="other-host"),
    pytest.param(lambda client, params: signed_post(client, INBOUND, params,
                                                    signed_url=f"{PUBLIC_URL}/webhooks/twilio/other"),
                 id="other-path"),
    pytest.param(lambda client, params: signed_post(client, INBOUND, params,
                                                    signed_url=f"https://gw.test{INBOUND}"), id="other-scheme"),
    pytest.param(lambda client, params: client.post(INBOUND, data={**params, "Body": "I paid already"}, headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + INBOUND, params)}),
                 id="body-changed-after-signing"),
    pytest.param(lambda client, params: client.post(INBOUND, data=params, headers={"X-Twilio-Signature": "x"}),
                 id="garbage-signature"),
])
def test_a_wrongly_signed_inbound_sms_is_refused_with_403_and_nothing_stored(app, client, sign):
    assert_error_shape(sign(client, inbound_sms()), 403)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


def test_a_signed_status_callback_reports_delivery_for_its_notification(app, client):
    notification_id = str(uuid.uuid4())
    params = status_callback(status="delivered")

    response = signed_post(client, f"{STATUS}?n={notification_id}", params)

    assert response.status_code == 204
    [event] = outbox_events(app)
    assert event.type == "delivery.reported"
    assert str(event.payload["notification_id"]) == notification_id
    assert (event.payload["status"], event.payload["provider_message_id"]) == ("delivered", params["MessageSid"])


def test_a_status_callback_signed_without_its_query_string_is_refused(app, client):
    path = f"{STATUS}?n={uuid.uuid4()}"

    response = signed_post(client, path, status_callback(), signed_url=PUBLIC_URL + STATUS)

    assert_error_shape(response, 403)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


def test_each_status_of_a_message_is_reported_once(app, client):
    sid = message_sid()
    path = f"{STATUS}?n={uuid.uuid4()}"

    for status in ("sent", "delivered", "delivered"):
        assert signed_post(client, path, status_callback(sid, status)).status_code == 204

    assert [e.payload["status"] for e in outbox_events(app)] == ["sent", "delivered"]


@pytest.mark.parametrize("path, params", [
    pytest.param(f"{STATUS}?n={uuid.uuid4()}", {**status_callback(), "MessageSid": "SM123"}, id="short-sid"),
    pytest.param(f"{STATUS}?n={uuid.uuid4()}", {**status_callback(), "MessageSid": "XX" + "a" * 32},
                 id="wrong-prefix"),
    pytest.param(f"{STATUS}?n={uuid.uuid4()}", status_callback(status="teleported"), id="unknown-status"),
    pytest.param(f"{STATUS}?n=not-a-uuid", status_callback(), id="bad-notification-id"),
    pytest.param(INBOUND, {**inbound_sms(), "MessageSid": "SM123"}, id="inbound-short-sid"),
    pytest.param(INBOUND, {k: v for k, v in inbound_sms().items() if k != "From"}, id="inbound-no-sender"),
])
def test_a_signed_webhook_with_bad_fields_is_refused_with_400_and_nothing_stored(app, client, path, params):
    assert_error_shape(signed_post(client, path, params), 400)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


@pytest.mark.parametrize("path", [INBOUND, STATUS])
def test_an_oversized_webhook_is_refused_with_413(app, client, path):
    params = inbound_sms(body="x" * MAX_WEBHOOK_BYTES)

    assert_error_shape(signed_post(client, path, params), 413)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


def test_healthz_answers_200(client):
    assert client.get("/healthz").status_code == 200


def test_the_directory_is_asked_only_for_a_reply_that_names_a_day(app, client, monkeypatch):
    import services.gateway.webhooks as webhooks

    asked = []
    real = webhooks.place_of
    monkeypatch.setattr(webhooks, "place_of", lambda *args: asked.append(args[1:]) or real(*args))

    assert signed_post(client, INBOUND, inbound_sms(body="好的，知道了")).status_code == 200
    assert asked == []
    assert signed_post(client, INBOUND, inbound_sms(body="我下周五交")).status_code == 200
    assert asked == [("sms", "+8613800138001")]
    assert [e.payload["intent"] for e in outbox_events(app)] == ["unknown", "promise_to_pay"]


def test_within_one_request_the_directory_is_asked_once_per_sender(app, monkeypatch):
    import services.gateway.directory as directory

    asked = []
    real = directory._look_up
    monkeypatch.setattr(directory, "_look_up", lambda *args: asked.append(args[1:]) or real(*args))
    engine = app.extensions["gateway.db"]
    with engine.connect() as connection:
        with app.test_request_context():
            places = [directory.place_of(connection, "sms", "+8613800138001") for _ in range(2)]
            directory.place_of(connection, "sms", "+8613800138002")
        with app.test_request_context():
            directory.place_of(connection, "sms", "+8613800138001")

    assert places[0] == places[1]
    assert asked == [("sms", "+8613800138001"), ("sms", "+8613800138002"), ("sms", "+8613800138001")]
