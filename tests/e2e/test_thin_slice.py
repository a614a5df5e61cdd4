"""One case through all three services, with real processes and the provider fakes."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.fakes.twilio_server import sign_and_post


def wait_for(fetch, predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    value = fetch()
    while not predicate(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(0.1)
        value = fetch()
    return value


def open_case(running, phone: str, email: str | None = "owner@example.com") -> dict:
    body = {"community": "lakeside", "amount_owed": "2860.00",
            "owner": {"name": "王芳", "phone": phone, "email": email, "locale": "zh-CN"}}
    response = requests.post(f"{running.url('cases')}/api/v1/cases", json=body,
                             headers=running.auth, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def get_case(running, case_id: str) -> dict:
    response = requests.get(f"{running.url('cases')}/api/v1/cases/{case_id}", headers=running.auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def fresh_phone() -> str:
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


def settled_sends(running, quiet: float = 0.6, timeout: float = 20.0) -> int:
    """How many messages Twilio has taken, once none has come for `quiet` seconds.

    The system is shared by every e2e test on its transport: reminders and auto-replies that earlier
    tests set off may still be on their way, and must not be counted as this test's sends.
    """
    deadline = time.monotonic() + timeout
    count, since = len(running.twilio.requests), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"Twilio kept receiving messages for {timeout}s")
        time.sleep(0.05)
        if len(running.twilio.requests) != count:
            count, since = len(running.twilio.requests), time.monotonic()
    return count


def test_new_case_is_texted_and_emailed_and_shows_delivery(running):
    phone = fresh_phone()
    case = open_case(running, phone)

    def statuses(c):
        return {m["channel"]: m["status"] for m in c["messages"]}

    shown = wait_for(lambda: get_case(running, case["id"]),
                     lambda c: statuses(c) == {"sms": "delivered", "email": "sent"})
    sms = [m for m in running.twilio.requests if m.get("To") == phone]
    assert len(sms) == 1
    assert sms[0]["Body"].endswith("回复TD退订")
    assert any(m["provider_message_id"] in running.twilio.messages for m in shown["messages"])
    emails = [b for _, b in running.sendgrid.accepted
              if b["personalizations"][0]["to"][0]["email"] == "owner@example.com"
              and b.get("custom_args", {}).get("notification_id") in {m["notification_id"] for m in shown["messages"]}]
    assert len(emails) == 1


def test_owner_text_reply_reaches_the_case_once_and_is_answered_with_twiml(running):
    phone = fresh_phone()
    case = open_case(running, phone, email=None)
    gateway = f"{running.url('gateway')}/webhooks/twilio/sms"
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "AccountSid": running.twilio.account_sid, "From": phone,
              "To": "+15005550006", "Body": "下周五交", "NumMedia": "0"}
    first = sign_and_post(gateway, params, running.twilio.auth_token)
    again = sign_and_post(gateway, params, running.twilio.auth_token)  # Twilio retrying
    assert first.status_code == again.status_code == 200
    assert first.headers["Content-Type"].startswith("application/xml")
    assert "<Response" in first.text
    shown = wait_for(lambda: get_case(running, case["id"]), lambda c: c["replies"] and c["promises"])
    time.sleep(0.5)  # give a duplicate every chance to arrive
    again = get_case(running, case["id"])
    assert [r["body"] for r in again["replies"]] == ["下周五交"]
    assert shown["replies"][0]["channel"] == "sms" and shown["replies"][0]["intent"] == "promise_to_pay"
    # Read as next week's Friday in the community's timezone, and recorded as one promise.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    friday = today - timedelta(days=today.weekday()) + timedelta(days=11)
    assert [(p["promised_date"], p["source"], p["status"]) for p in again["promises"]] == [
        (friday.isoformat(), "sms", "open")]


@pytest.mark.parametrize("signature", [None, "bm90IGEgc2lnbmF0dXJl"], ids=["unsigned", "wrong-signature"])
def test_unsigned_or_forged_webhook_is_refused_and_publishes_nothing(running, signature):
    phone = fresh_phone()
    case = open_case(running, phone, email=None)
    gateway = f"{running.url('gateway')}/webhooks/twilio/sms"
    forged = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "Body": "forged", "To": "+1"}
    headers = {"X-Twilio-Signature": signature} if signature else {}
    refused = requests.post(gateway, data=forged, headers=headers, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["code"] == 403
    genuine = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "Body": "genuine", "To": "+1"}
    assert sign_and_post(gateway, genuine, running.twilio.auth_token).status_code == 200
    shown = wait_for(lambda: get_case(running, case["id"]), lambda c: c["replies"])
    time.sleep(0.3)
    assert [r["body"] for r in shown["replies"]] == ["genuine"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ('{"community": "lakeside"}', "text/plain", 415),
        ('{"community": "lakeside", "amount_owed": "1.00", "owner": {"name": "x"}, "oops": 1}',
         "application/json", 422),
        ('{"community": "lakeside", "owner": {"name": "x"}}', "application/json", 422),
        ('{"community": "lakeside", "amount_owed": [], "owner": {"name": "x"}}', "application/json", 422),
        ('{"community": "lakeside", "amount_owed": "1.00", "owner": {"name": "x", "phone": "12"}}',
         "application/json", 422),
    ],
    ids=["bad-json", "not-json", "unknown-field", "missing-field", "wrong-type", "bad-phone"],
)
def test_bad_case_body_gets_a_clear_4xx_and_writes_nothing(running, data, content_type, status):
    before = requests.get(f"{running.url('cases')}/api/v1/cases", headers=running.auth, timeout=10).json()
    sends_before = settled_sends(running)
    response = requests.post(f"{running.url('cases')}/api/v1/cases", data=data.encode(),
                             headers={**running.auth, "Content-Type": content_type}, timeout=10)
    assert response.status_code == status
    assert set(response.json()) == {"code", "status", "message", "errors"}
    after = requests.get(f"{running.url('cases')}/api/v1/cases", headers=running.auth, timeout=10).json()
    assert after["total"] == before["total"]
    time.sleep(0.3)
    assert len(running.twilio.requests) == sends_before


def test_every_service_reports_ready(running):
    for service in ("cases", "notifier", "gateway"):
        response = requests.get(f"{running.url(service)}/readyz", timeout=10)
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_correlation_id_follows_the_case_into_the_notifier_and_logs_mask_personal_data(running):
    phone = fresh_phone()
    correlation_id = "corr-" + uuid.uuid4().hex
    body = {"community": "lakeside", "amount_owed": "99.00",
            "owner": {"name": "赵敏", "phone": phone, "email": "zhao.min@example.com"}}
    response = requests.post(f"{running.url('cases')}/api/v1/cases", json=body, timeout=10,
                             headers={**running.auth, "X-Correlation-ID": correlation_id})
    assert response.headers["X-Correlation-ID"] == correlation_id
    case_id = response.json()["id"]
    wait_for(lambda: get_case(running, case_id), lambda c: len(c["messages"]) == 2)
    logs = {path.name: path.read_text(errors="replace") for path in running.system.log_dir.glob("*.log")}
    assert correlation_id in logs["notifier-worker.log"]
    everything = "\n".join(logs.values())
    assert phone not in everything and phone[3:] not in everything
    assert "zhao.min@example.com" not in everything
    assert "赵敏" not in everything
