"""SendGrid's Event Webhook at the gateway: signed batches are accepted event by event, once."""
from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sendgrid
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, text

from services.gateway.app import MAX_WEBHOOK_BYTES, create_app
from services.gateway.sendgrid.events import MAX_EVENT_BATCH_BYTES, x_message_id
from services.gateway.sendgrid.signature import load_public_key, refusal
from services.gateway.tables import outbox, webhook_receipts
from shared.config import ConfigError
from shared.envelope import decode
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

EVENTS = "/webhooks/sendgrid/events"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
OUR_KEY = ec.generate_private_key(ec.SECP256R1())


def public_key_text(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The key as SendGrid shows it under Mail Settings: base64 of the DER SubjectPublicKeyInfo."""
    der = private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


# SendGrid's own test vector, shipped with the installed library in
# site-packages/test/unit/test_eventwebhook.py (sendgrid 6.12.5); the trailing CRLF is part of it.
VECTOR_PUBLIC_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw"
                     "+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
VECTOR_SIGNATURE = ("MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtE"
                    "ZtM=")
VECTOR_TIMESTAMP = "1600112502"
VECTOR_PAYLOAD = json.dumps([{
    "email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492,
}], sort_keys=True, separators=(",", ":")) + "\r\n"


def build_app(tmp_path, monkeypatch, public_key: str):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path),
                    SENDGRID_WEBHOOK_PUBLIC_KEY=public_key)
    with root_logging_kept():
        return create_app()


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = build_app(tmp_path, monkeypatch, public_key_text(OUR_KEY))
    yield app
    app.extensions["gateway.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def outbox_events(app):
    with app.extensions["gateway.db"].connect() as connection:
        bodies = connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
    return [decode(body) for body in bodies]


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == status
    return body


def sign(raw: bytes, timestamp: str, key: ec.EllipticCurvePrivateKey = OUR_KEY) -> str:
    """Sign as SendGrid does: ECDSA P-256 with SHA-256 over timestamp + raw body, base64 DER."""
    return base64.b64encode(key.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()


def signed_post(client, raw: bytes, timestamp: str | None = None, key: ec.EllipticCurvePrivateKey = OUR_KEY):
    timestamp = timestamp or str(int(time.time()))
    return client.post(EVENTS, data=raw, content_type="application/json",
                       headers={SIGNATURE: sign(raw, timestamp, key), TIMESTAMP: timestamp})


def as_body(events: list[dict]) -> bytes:
    return json.dumps(events).encode()


def sendgrid_event(event: str = "delivered", **fields) -> dict:
    x_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
    return {"email": "Owner@Example.com", "timestamp": 1767225600, "event": event,
            "sg_event_id": base64.urlsafe_b64encode(secrets.token_bytes(36)).decode(),
            "sg_message_id": f"{x_id}.recvd-5b6594c664-csn64-1-65A9F4D1-A.0",
            "smtp-id": f"<{x_id}@ismtpd0001p1las1.sendgrid.net>", **fields}


def test_a_signed_batch_reports_each_delivery_against_its_notification(app, client):
    notification_id = str(uuid.uuid4())
    events = [sendgrid_event("processed", notification_id=notification_id),
              sendgrid_event("delivered", notification_id=notification_id)]

    response = signed_post(client, as_body(events))

    assert response.status_code == 204
    reported = outbox_events(app)
    assert [e.type for e in reported] == ["delivery.reported", "delivery.reported"]
    first = reported[0].payload
    assert (first["provider"], first["channel"], first["status"]) == ("sendgrid", "email", "processed")
    assert first["provider_message_id"] == events[0]["sg_message_id"].split(".")[0]
    assert str(first["notification_id"]) == notification_id
    assert first["address"] == "Owner@Example.com"
    assert first["reported_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert reported[1].payload["status"] == "delivered"


@pytest.mark.parametrize("sg_message_id, sent_as", [
    ("LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0", "LRzXl_NHStOGhQ4kofSm_A"),
    ("56WoYBdESN6RyEn_7bJRKA.recvd-5b6594c664-csn64-1-65A9F4D1-A.0", "56WoYBdESN6RyEn_7bJRKA"),
    ("evEK_IhZSlKus235aGfxIQ.filter0361p1las1-11880-5978131E-23.0", "evEK_IhZSlKus235aGfxIQ"),
    ("14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "14c5d75ce93.dfd.64b469"),
    ("q30rlKhQQ4CCuDhRMZR2_Q", "q30rlKhQQ4CCuDhRMZR2_Q"),
], ids=["filterdrecv", "recvd", "filter-host", "legacy-dotted", "bare"])
def test_the_sendgrid_message_id_loses_its_relay_suffix_to_match_the_x_message_id(sg_message_id, sent_as):
    assert x_message_id(sg_message_id) == sent_as


@pytest.mark.parametrize("event, opted_out", [
    ("unsubscribe", True), ("group_unsubscribe", True), ("spamreport", True), ("group_resubscribe", False),
])
def test_an_unsubscribe_or_spam_report_changes_the_suppression_list(app, client, event, opted_out):
    response = signed_post(client, as_body([sendgrid_event(event)]))

    assert response.status_code == 204
    [changed] = outbox_events(app)
    assert changed.type == "suppression.changed"
    assert changed.payload == {"channel": "email", "address": "owner@example.com", "opted_out": opted_out,
                               "source": f"sendgrid_{event}"}


def test_event_types_we_do_not_follow_are_acknowledged_and_dropped(app, client):
    events = [sendgrid_event("account_status_change"), sendgrid_event("machine_opened")]

    assert signed_post(client, as_body(events)).status_code == 204
    assert row_count(app.extensions["gateway.db"], outbox) == 0
    assert row_count(app.extensions["gateway.db"], webhook_receipts) == 0


@pytest.mark.parametrize("notification_id", ["not-a-uuid", "", 42, None])
def test_a_notification_id_that_is_not_a_uuid_is_left_out(app, client, notification_id):
    assert signed_post(client, as_body([sendgrid_event(notification_id=notification_id)])).status_code == 204
    [reported] = outbox_events(app)
    assert reported.payload["notification_id"] is None


@pytest.mark.parametrize("fields, error_code", [
    ({"event": "bounce", "status": "5.1.1", "reason": "550 5.1.1 <owner@example.com>: user unknown",
      "type": "bounce"}, "5.1.1"),
    ({"event": "bounce", "status": "5.7.1", "reason": "550 5.7.1 blocked by policy", "type": "blocked"},
     "blocked:5.7.1"),
    ({"event": "bounce", "reason": "550 mailbox unavailable"}, "550"),
    ({"event": "dropped", "reason": "Bounced Address"}, "bounced"),
    ({"event": "dropped", "reason": "Unsubscribed Address"}, "unsubscribed"),
    ({"event": "dropped", "reason": "Spam Reporting Address"}, "spam_reported"),
    ({"event": "dropped", "reason": "Some New Reason SendGrid Added Later"}, "some_new_reason_"),
    ({"event": "deferred", "response": "421 try again later", "attempt": "1"}, None),
    ({"event": "delivered", "response": "250 OK"}, None),
], ids=["bounce", "blocked", "bounce-without-status", "dropped-bounced", "dropped-unsubscribed",
        "dropped-spam", "dropped-unknown", "deferred", "delivered"])
def test_a_failed_delivery_carries_a_short_error_code(app, client, fields, error_code):
    assert signed_post(client, as_body([sendgrid_event(**fields)])).status_code == 204
    [reported] = outbox_events(app)
    assert reported.payload["status"] == fields["event"]
    assert reported.payload["error_code"] == error_code
    assert error_code is None or len(error_code) <= 16  # what cases and the notifier can store


def test_the_same_batch_delivered_twice_is_stored_once(app, client):
    raw = as_body([sendgrid_event("processed"), sendgrid_event("delivered")])

    first, second = signed_post(client, raw), signed_post(client, raw)

    assert (first.status_code, second.status_code) == (204, 204)
    assert row_count(app.extensions["gateway.db"], outbox) == 2
    assert row_count(app.extensions["gateway.db"], webhook_receipts) == 2


def test_a_batch_with_some_events_already_seen_stores_only_the_new_ones(app, client):
    seen, new = sendgrid_event("processed"), sendgrid_event("delivered")
    assert signed_post(client, as_body([seen])).status_code == 204

    assert signed_post(client, as_body([seen, new, new])).status_code == 204

    assert [e.payload["status"] for e in outbox_events(app)] == ["processed", "delivered"]


def test_a_batch_larger_than_other_webhooks_may_be_is_accepted(app, client):
    events = [sendgrid_event("open", useragent="Mozilla/5.0 " + "x" * 200) for _ in range(600)]
    raw = as_body(events)
    assert MAX_WEBHOOK_BYTES < len(raw) < MAX_EVENT_BATCH_BYTES

    assert signed_post(client, raw).status_code == 204
    assert row_count(app.extensions["gateway.db"], outbox) == 600


def test_an_oversized_batch_is_refused_with_413_and_nothing_stored(app, client):
    raw = as_body([sendgrid_event(padding="x" * MAX_EVENT_BATCH_BYTES)])

    assert_error_shape(signed_post(client, raw), 413)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


def stale() -> str:
    return str(int(time.time()) - 11 * 60)


def ahead() -> str:
    return str(int(time.time()) + 6 * 60)


def post_with(client, raw: bytes, **headers):
    return client.post(EVENTS, data=raw, content_type="application/json", headers=headers)


def fresh() -> str:
    return str(int(time.time()))


@pytest.mark.parametrize("send", [
    pytest.param(lambda client, raw: post_with(client, raw), id="unsigned"),
    pytest.param(lambda client, raw: post_with(client, raw, **{SIGNATURE: sign(raw, fresh())}), id="no-timestamp"),
    pytest.param(lambda client, raw: post_with(client, raw, **{TIMESTAMP: fresh()}), id="no-signature"),
    pytest.param(lambda client, raw: post_with(client, raw, **{SIGNATURE: "garbage!", TIMESTAMP: fresh()}),
                 id="garbage-signature"),
    pytest.param(lambda client, raw: post_with(client, raw, **{SIGNATURE: base64.b64encode(b"x" * 70).decode(),
                                                              TIMESTAMP: fresh()}), id="not-der"),
    pytest.param(lambda client, raw: signed_post(client, raw, key=ec.generate_private_key(ec.SECP256R1())),
                 id="another-key"),
    pytest.param(lambda client, raw: post_with(client, raw.replace(b"delivered", b"bounce"),
                                               **{SIGNATURE: sign(raw, fresh()), TIMESTAMP: fresh()}),
                 id="body-changed-after-signing"),
    pytest.param(lambda client, raw: post_with(client, raw + b" ", **{SIGNATURE: sign(raw, fresh()),
                                                                     TIMESTAMP: fresh()}),
                 id="whitespace-added-after-signing"),
    pytest.param(lambda client, raw: post_with(client, raw, **{SIGNATURE: sign(raw, stale()),
                                                              TIMESTAMP: str(int(time.time()))}),
                 id="timestamp-changed-after-signing"),
    pytest.param(lambda client, raw: signed_post(client, raw, stale()), id="stale"),
    pytest.param(lambda client, raw: signed_post(client, raw, ahead()), id="future"),
    pytest.param(lambda client, raw: signed_post(client, raw, "16e8"), id="timestamp-not-a-number"),
    pytest.param(lambda client, raw: signed_post(client, b'["\xff\xfe"]'), id="not-utf8"),
])
def test_a_batch_not_signed_by_sendgrid_is_refused_with_403_and_nothing_stored(app, client, send):
    raw = as_body([sendgrid_event("delivered")])

    assert_error_shape(send(client, raw), 403)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


@pytest.mark.parametrize("age_seconds, accepted", [(-299, True), (-301, False), (599, True), (601, False)],
                         ids=["just-ahead", "too-far-ahead", "nearly-stale", "stale"])
def test_the_freshness_window_is_ten_minutes_back_and_five_ahead(app, client, age_seconds, accepted):
    pinned = datetime(2026, 1, 1, tzinfo=UTC)
    app.config["GATEWAY_NOW"] = lambda: pinned
    timestamp = str(int(pinned.timestamp()) - age_seconds)

    response = signed_post(client, as_body([sendgrid_event()]), timestamp)

    assert response.status_code == (204 if accepted else 403)


def test_without_a_configured_key_every_batch_is_refused(tmp_path, monkeypatch):
    app = build_app(tmp_path, monkeypatch, public_key="")

    assert_error_shape(signed_post(app.test_client(), as_body([sendgrid_event()])), 403)
    assert row_count(app.extensions["gateway.db"], outbox) == 0
    app.extensions["gateway.db"].dispose()


@pytest.mark.parametrize("key", ["not base64 at all", base64.b64encode(b"\x30\x03\x02\x01\x01").decode()],
                         ids=["garbage", "not-a-key"])
def test_a_malformed_public_key_stops_the_gateway_at_start(tmp_path, monkeypatch, key):
    with pytest.raises(ConfigError, match="SENDGRID_WEBHOOK_PUBLIC_KEY"):
        build_app(tmp_path, monkeypatch, public_key=key)


def test_the_public_key_may_be_pasted_with_its_pem_armour():
    armoured = f"-----BEGIN PUBLIC KEY-----\n{public_key_text(OUR_KEY)}\n-----END PUBLIC KEY-----\n"

    assert load_public_key(armoured).public_numbers() == OUR_KEY.public_key().public_numbers()


@pytest.mark.parametrize("raw", [
    pytest.param(b"not json", id="not-json"),
    pytest.param(b'{"event": "delivered"}', id="object-not-array"),
    pytest.param(b'["delivered"]', id="array-of-strings"),
    pytest.param(b"[" * 5000 + b"]" * 5000, id="nested-too-deep"),
    pytest.param(json.dumps([{k: v for k, v in sendgrid_event().items() if k != "sg_event_id"}]).encode(),
                 id="no-event-id"),
    pytest.param(json.dumps([{k: v for k, v in sendgrid_event().items() if k != "email"}]).encode(),
                 id="no-address"),
    pytest.param(json.dumps([{k: v for k, v in sendgrid_event().items() if k != "sg_message_id"}]).encode(),
                 id="delivery-without-message-id"),
    pytest.param(json.dumps([sendgrid_event(), sendgrid_event(sg_event_id=None)]).encode(),
                 id="one-bad-event-among-good"),
])
def test_a_signed_but_malformed_batch_is_refused_with_400_and_nothing_stored(app, client, raw):
    assert_error_shape(signed_post(client, raw), 400)
    assert row_count(app.extensions["gateway.db"], outbox) == 0


def test_a_batch_that_cannot_be_stored_gets_503_so_sendgrid_retries(app, client):
    with app.extensions["gateway.db"].begin() as connection:
        connection.execute(text("DROP TABLE outbox"))

    assert_error_shape(signed_post(client, as_body([sendgrid_event()])), 503)
    assert row_count(app.extensions["gateway.db"], webhook_receipts) == 0


def test_sendgrids_published_test_vector_verifies():
    key = load_public_key(VECTOR_PUBLIC_KEY)
    signed_at = datetime.fromtimestamp(int(VECTOR_TIMESTAMP), UTC)

    assert refusal(key, VECTOR_PAYLOAD.encode(), VECTOR_SIGNATURE, VECTOR_TIMESTAMP, signed_at) is None
    assert refusal(key, b"payload", VECTOR_SIGNATURE, VECTOR_TIMESTAMP, signed_at) == "bad signature"


def test_sendgrids_published_test_vector_is_accepted_by_the_webhook(tmp_path, monkeypatch):
    app = build_app(tmp_path, monkeypatch, VECTOR_PUBLIC_KEY)
    app.config["GATEWAY_NOW"] = lambda: datetime.fromtimestamp(int(VECTOR_TIMESTAMP) + 30, UTC)

    response = app.test_client().post(EVENTS, data=VECTOR_PAYLOAD.encode(), content_type="application/json",
                                      headers={SIGNATURE: VECTOR_SIGNATURE, TIMESTAMP: VECTOR_TIMESTAMP})

    assert response.status_code == 204
    [reported] = outbox_events(app)
    assert (reported.payload["status"], reported.payload["provider_message_id"], reported.payload["error_code"],
            reported.payload["address"]) == ("dropped", "LRzXl_NHStOGhQ4kofSm_A", "bounced", "hello@world.com")
    app.extensions["gateway.db"].dispose()


def test_the_vector_here_is_the_one_sendgrid_ships():
    shipped = Path(sendgrid.__file__).resolve().parents[1] / "test" / "unit" / "test_eventwebhook.py"
    # The pinned wheel ships SendGrid's own tests; an upgrade that drops them must be noticed.
    assert shipped.exists(), f"the pinned sendgrid no longer ships its test vector at {shipped}"
    source = shipped.read_text()

    assert VECTOR_PUBLIC_KEY in source and VECTOR_SIGNATURE in source and f"'{VECTOR_TIMESTAMP}'" in source
    assert "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0" in source
