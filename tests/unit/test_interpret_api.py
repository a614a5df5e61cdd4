"""Staff see how a reply is read, and an inbound SMS carries that reading to cases."""
from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.gateway.app import create_app
from services.gateway.tables import outbox
from shared.auth import issue_token
from shared.envelope import decode
from tests.unit.sqlite_services import migrated_database, root_logging_kept, set_environment

PUBLIC_URL = "http://gw.test"
AUTH_TOKEN = "gateway-twilio-token"
INTERPRET = "/api/v1/replies/interpret"
INBOUND = "/webhooks/twilio/sms"
REPLY = {"text": "下周五交1500", "received_at": "2026-03-16T10:00:00+08:00", "timezone": "Asia/Shanghai"}


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


@pytest.fixture
def staff_headers(app):
    token = issue_token(app.config["SECRET_KEY"], "collector-1", "collector", ["lakeside-garden"])
    return {"Authorization": f"Bearer {token}"}


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == status
    return body


def test_staff_see_a_promise_read_with_its_day_and_amount(client, staff_headers):
    response = client.post(INTERPRET, json=REPLY, headers=staff_headers)

    assert response.status_code == 200
    assert response.get_json() == {"intent": "promise_to_pay", "promised_date": "2026-03-27",
                                   "amount": "1500.00", "category": None, "language": "zh-CN"}


def test_staff_see_a_complaint_read_with_its_category(client, staff_headers):
    body = {**REPLY, "text": "Fix the lift and I'll pay on Friday", "received_at": "2026-03-16T02:00:00Z"}

    response = client.post(INTERPRET, json=body, headers=staff_headers)

    assert response.get_json() == {"intent": "complaint", "promised_date": None, "amount": None,
                                   "category": "lifts", "language": "en"}


def test_the_day_is_counted_in_the_timezone_given(client, staff_headers):
    body = {**REPLY, "text": "tomorrow", "received_at": "2026-03-15T20:00:00+00:00"}

    shanghai = client.post(INTERPRET, json=body, headers=staff_headers).get_json()
    london = client.post(INTERPRET, json={**body, "timezone": "Europe/London"}, headers=staff_headers).get_json()

    assert (shanghai["promised_date"], london["promised_date"]) == ("2026-03-17", "2026-03-16")


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-token"),
    pytest.param({"Authorization": "Bearer not-a-token"}, id="forged-token"),
    pytest.param({"Authorization": "Basic c3RhZmY6c3RhZmY="}, id="not-a-bearer-token"),
])
def test_reading_a_reply_needs_a_staff_token(client, headers):
    assert_error_shape(client.post(INTERPRET, json=REPLY, headers=headers), 401)


@pytest.mark.parametrize("send, status, field", [
    pytest.param(lambda c, h: c.post(INTERPRET, data="{not json", headers=h,
                                     content_type="application/json"), 400, None, id="malformed-json"),
    pytest.param(lambda c, h: c.post(INTERPRET, json=["下周五交"], headers=h), 400, None, id="not-an-object"),
    pytest.param(lambda c, h: c.post(INTERPRET, data=REPLY, headers=h), 400, None, id="form-encoded"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "owner": "x"}, headers=h), 422, "owner",
                 id="unknown-field"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={k: v for k, v in REPLY.items() if k != "text"},
                                     headers=h), 422, "text", id="no-text"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "text": 15}, headers=h), 422, "text",
                 id="text-not-a-string"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "text": "交" * 10_001}, headers=h), 422,
                 "text", id="text-too-long"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "received_at": "2026-03-16T10:00:00"},
                                     headers=h), 422, "received_at", id="time-without-offset"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "received_at": "next tuesday"}, headers=h),
                 422, "received_at", id="time-not-iso"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "timezone": "Mars/Olympus_Mons"}, headers=h),
                 422, "timezone", id="unknown-timezone"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "timezone": "../../etc/passwd"}, headers=h),
                 422, "timezone", id="timezone-as-a-path"),
    pytest.param(lambda c, h: c.post(INTERPRET, json={**REPLY, "timezone": "asia/shanghai"}, headers=h),
                 422, "timezone", id="timezone-in-the-wrong-case"),
])
def test_a_bad_request_to_read_a_reply_gets_a_4xx_in_the_one_error_shape(client, staff_headers, send, status,
                                                                         field):
    body = assert_error_shape(send(client, staff_headers), status)

    if field is not None:
        assert field in body["errors"]


def signed_sms(client, body: str):
    sid = "SM" + secrets.token_hex(16)
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "From": "+8613800138001",
              "To": "+15005550006", "Body": body, "NumMedia": "0"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + INBOUND, params)
    return client.post(INBOUND, data=params, headers={"X-Twilio-Signature": signature})


def owner_replies(app) -> list[dict]:
    with app.extensions["gateway.db"].connect() as connection:
        bodies = connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
    return [event.payload for event in map(decode, bodies) if event.type == "owner.replied"]


def friday_next_week(day: date) -> date:
    return day - timedelta(days=day.weekday()) + timedelta(days=7 + 4)


def test_an_inbound_sms_promising_next_friday_reaches_cases_as_a_dated_promise(app, client):
    before = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()

    response = signed_sms(client, "下周五交")

    after = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert response.status_code == 200
    [payload] = owner_replies(app)
    assert (payload["intent"], payload["language"]) == ("promise_to_pay", "zh-CN")
    # Read in Shanghai time; a request that straddles midnight may land on either day.
    assert payload["promised_date"] in {friday_next_week(before), friday_next_week(after)}
    assert (payload["amount"], payload["category"]) == (None, None)


@pytest.mark.parametrize("text, intent, category", [
    ("电梯修好了我就交", "complaint", "lifts"),
    ("TD", "opt_out", None),
    ("I already paid", "paid_already", None),
])
def test_an_inbound_sms_carries_what_the_owner_meant(app, client, text, intent, category):
    assert signed_sms(client, text).status_code == 200

    [payload] = owner_replies(app)
    assert (payload["intent"], payload["category"], payload["promised_date"]) == (intent, category, None)


def test_an_inbound_sms_with_an_amount_carries_it_to_the_fen(app, client):
    signed_sms(client, "I'll pay 2,860.50 tomorrow")

    [payload] = owner_replies(app)
    assert (payload["intent"], payload["amount"], payload["language"]) == ("promise_to_pay", Decimal("2860.50"), "en")


@pytest.mark.parametrize(("body", "opted_out"), [("退订", True), ("STOP", True), ("START", False)])
def test_an_opt_out_or_opt_in_by_text_changes_the_suppression_list_with_the_reply(app, client, body, opted_out):
    response = signed_sms(client, body)
    assert response.status_code == 200
    with app.extensions["gateway.db"].connect() as connection:
        events = [decode(b) for b in connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars()]
    # ... and the one confirmation the owner still gets (sent by the notifier).
    assert [e.type for e in events] == ["owner.replied", "suppression.changed", "autoreply.requested"]
    assert events[1].payload["opted_out"] is opted_out
    assert events[1].payload["address"] == events[0].payload["sender"]
    assert events[2].payload["kind"] == ("opt_out_confirmed" if opted_out else "opt_in_confirmed")
