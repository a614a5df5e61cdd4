"""What the send path does once per message, made cheaper without changing what it produces.

- The Twilio client's HTTP session reads the environment once (proxies, CA bundle), as requests
  would on every call, and keeps one connection alive per call in flight.
- `message.sent` is built without running its schema again, and still decodes as the schema says.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from services.notifier.providers import TwilioSms, twilio_http_client
from services.notifier.sending import sent_event
from shared.config import Settings
from shared.envelope import decode, new_event

API = "https://api.twilio.com"


def test_proxies_and_ca_bundle_come_from_the_environment_read_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    http = twilio_http_client(API, timeout=5, connections=4)
    settings = http.session.merge_environment_settings(f"{API}/2010-04-01/Accounts/AC1/Messages.json",
                                                       dict(http.proxy), None, None, None)
    assert settings["proxies"]["https"] == "http://proxy.internal:3128"
    assert settings["verify"] == "/etc/ssl/company-ca.pem"
    # Changing the environment afterwards changes nothing: it is not read per call any more.
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere:3128")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    again = http.session.merge_environment_settings(f"{API}/x", dict(http.proxy), None, None, None)
    assert again["proxies"]["https"] == "http://proxy.internal:3128"
    assert again["verify"] == "/etc/ssl/company-ca.pem"


def test_no_proxy_still_bypasses_the_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.twilio.com")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    http = twilio_http_client(API, timeout=5, connections=4)
    settings = http.session.merge_environment_settings(f"{API}/x", dict(http.proxy), None, None, None)
    assert "https" not in settings["proxies"]
    assert settings["verify"] is True


@pytest.mark.parametrize("prefix", ["https://", "http://"])
def test_one_kept_alive_connection_per_call_in_flight(prefix):
    http = twilio_http_client(API, timeout=5, connections=32)
    adapter = http.session.get_adapter(f"{prefix}api.twilio.com/")
    assert adapter._pool_maxsize == 32


def test_twilio_sms_sizes_its_connections_and_keeps_the_base_url():
    sms = TwilioSms(Settings.from_env({"SMS_PROVIDER": "twilio", "TWILIO_API_BASE_URL": "http://127.0.0.1:9/",
                                       "PROVIDER_TIMEOUT_SECONDS": "2"}), connections=7)
    assert sms.client.api.base_url == "http://127.0.0.1:9"
    assert sms.client.http_client.session.get_adapter("http://127.0.0.1:9/")._pool_maxsize == 7
    assert sms.client.http_client.timeout == 2


def request_payload(email: str | None = "wang.fang@example.com") -> dict:
    return new_event("reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": "case-1", "community": "翠湖花园",
        "stage": "reminder", "channels": ["sms", "email"], "template": "reminder",
        "recipient": {"owner_id": "owner-1", "name": "王芳", "phone": "+8613800138000", "email": email,
                      "locale": "zh-CN"},
        "context": {"community": "翠湖花园", "amount_owed": "2860.00"},
    }).payload


@pytest.mark.parametrize("channel,address", [("sms", "+8613800138000"), ("email", "wang.fang@example.com")])
def test_message_sent_decodes_as_its_schema_says(channel, address):
    p = request_payload()
    event = sent_event(str(p["notification_id"]), channel, p, "twilio", "SM123")
    decoded = decode(event.to_json())
    assert decoded.type == "message.sent"
    assert decoded.payload["address"] == address
    assert decoded.payload["provider_message_id"] == "SM123"
    assert str(decoded.payload["notification_id"]) == str(p["notification_id"])
    # Exactly what validating through the schema would have produced.
    validated = new_event("message.sent", {**event.payload, "sent_at": datetime.fromisoformat(
        event.payload["sent_at"])})
    assert event.payload == validated.payload


def test_message_sent_without_an_address_decodes():
    p = request_payload(email=None)
    decoded = decode(sent_event(str(p["notification_id"]), "email", p, "sendgrid", "x-1").to_json())
    assert decoded.payload["address"] is None
