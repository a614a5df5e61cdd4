"""Envelopes on the bus: what `decode` lets through, and what `new_event` will build."""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from shared.envelope import InvalidMessage, decode, new_event
from shared.logs import bind_correlation_id, reset_correlation_id


def case_opened():
    return new_event("case.opened", {
        "case_id": "case-1", "owner_id": "owner-1", "community": "lakeside-garden",
        "amount_owed": Decimal("2860.00"),
    })


def reminder_requested():
    return new_event("reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": "case-1", "stage": "reminder",
        "channels": ["sms", "email"], "template": "reminder",
        "recipient": {"owner_id": "owner-1", "name": "王芳", "phone": "+8613800138001",
                      "email": "wang.fang@example.com", "locale": "zh-CN"},
        "context": {"amount_owed": "2860.00"},
    })


def raw_case_opened() -> dict:
    return json.loads(case_opened().to_json())


def without(raw: dict, key: str) -> dict:
    return {k: v for k, v in raw.items() if k != key}


def changed(**fields) -> dict:
    return {**raw_case_opened(), **fields}


def with_payload(**fields) -> dict:
    raw = raw_case_opened()
    return {**raw, "payload": {**raw["payload"], **fields}}


def test_a_round_tripped_event_decodes_to_the_same_envelope():
    event = case_opened()

    decoded = decode(event.to_json().encode())

    assert (decoded.id, decoded.type, decoded.version, decoded.correlation_id) == (
        event.id, event.type, event.version, event.correlation_id)
    assert decoded.occurred_at == event.occurred_at
    assert decoded.payload["case_id"] == "case-1" and decoded.payload["amount_owed"] == Decimal("2860.00")


def test_a_round_tripped_reminder_keeps_its_chinese_recipient_name():
    event = reminder_requested()

    decoded = decode(event.to_json().encode("utf-8"))

    assert decoded.payload["recipient"]["name"] == "王芳"
    assert str(decoded.payload["notification_id"]) == event.payload["notification_id"]


@pytest.mark.parametrize("body", [
    b"not json at all",
    b'{"id": ',
    b"\xff\xfe\xfa",
    json.dumps(raw_case_opened()).encode().replace(b'"lakeside-garden"', b'"lakeside\xc3\x28"'),
], ids=["text", "truncated", "binary", "invalid-utf8-in-a-string"])
def test_bytes_that_are_not_utf8_json_are_invalid(body):
    with pytest.raises(InvalidMessage):
        decode(body)


def test_json_nested_too_deeply_to_parse_is_invalid():
    with pytest.raises(InvalidMessage):
        decode(b'{"payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


@pytest.mark.parametrize("body", ["[]", f"[{case_opened().to_json()}]", '"case.opened"', "null", "42"])
def test_json_that_is_not_an_object_is_invalid(body):
    with pytest.raises(InvalidMessage, match="not a JSON object"):
        decode(body)


ENVELOPE_FIELDS = ("id", "type", "version", "occurred_at", "correlation_id", "payload")


@pytest.mark.parametrize("raw", [
    pytest.param(changed(priority="high"), id="unknown-field"),
    *[pytest.param(without(raw_case_opened(), key), id=f"missing-{key}") for key in ENVELOPE_FIELDS],
    pytest.param(changed(id="not-a-uuid"), id="id-not-a-uuid"),
    pytest.param(changed(id=7), id="id-a-number"),
    pytest.param(changed(type="Case Opened"), id="type-not-dotted"),
    pytest.param(changed(type=["case.opened"]), id="type-a-list"),
    pytest.param(changed(version="1"), id="version-a-string"),
    pytest.param(changed(version=True), id="version-a-bool"),
    pytest.param(changed(version=1.5), id="version-a-float"),
    pytest.param(changed(version=0), id="version-zero"),
    pytest.param(changed(occurred_at="yesterday"), id="occurred-at-not-a-date"),
    pytest.param(changed(occurred_at="2026-01-15T10:00:00"), id="occurred-at-naive"),
    pytest.param(changed(correlation_id=""), id="correlation-id-empty"),
    pytest.param(changed(correlation_id="c" * 129), id="correlation-id-too-long"),
    pytest.param(changed(correlation_id=None), id="correlation-id-null"),
    pytest.param(changed(payload=["case-1"]), id="payload-a-list"),
    pytest.param(changed(payload=None), id="payload-null"),
])
def test_an_envelope_with_unknown_missing_or_mistyped_fields_is_invalid(raw):
    with pytest.raises(InvalidMessage, match="envelope invalid"):
        decode(json.dumps(raw))


@pytest.mark.parametrize("raw", [
    pytest.param(changed(type="case.reopened"), id="unknown-type"),
    pytest.param(changed(version=2), id="unknown-version"),
])
def test_an_event_type_or_version_without_a_schema_is_invalid(raw):
    with pytest.raises(InvalidMessage, match="no schema"):
        decode(json.dumps(raw))


def reminder_with_recipient(**fields) -> dict:
    raw = json.loads(reminder_requested().to_json())
    raw["payload"]["recipient"] = {**raw["payload"]["recipient"], **fields}
    return raw


@pytest.mark.parametrize("raw", [
    pytest.param(with_payload(discount="10%"), id="unknown-field"),
    pytest.param({**raw_case_opened(), "payload": without(raw_case_opened()["payload"], "case_id")},
                 id="missing-field"),
    pytest.param(with_payload(amount_owed="lots"), id="amount-not-a-number"),
    pytest.param(with_payload(case_id=None), id="case-id-null"),
    pytest.param(reminder_with_recipient(nickname="Fang"), id="unknown-nested-field"),
    pytest.param(reminder_with_recipient(email="not-an-address"), id="nested-email-invalid"),
    pytest.param(reminder_with_recipient(locale="fr"), id="nested-locale-unknown"),
])
def test_a_payload_with_unknown_missing_or_mistyped_fields_is_invalid(raw):
    with pytest.raises(InvalidMessage, match="payload invalid"):
        decode(json.dumps(raw))


@pytest.mark.parametrize("payload", [
    pytest.param({"case_id": "c", "owner_id": "o", "community": "x", "amount_owed": "1.00", "extra": 1},
                 id="unknown-field"),
    pytest.param({"case_id": "c", "owner_id": "o", "community": "x"}, id="missing-field"),
    pytest.param({"case_id": "c", "owner_id": "o", "community": "x", "amount_owed": "lots"},
                 id="mistyped-field"),
])
def test_new_event_refuses_a_payload_its_schema_rejects(payload):
    with pytest.raises(ValidationError):
        new_event("case.opened", payload)


def test_new_event_refuses_a_reminder_on_an_unknown_channel():
    with pytest.raises(ValidationError) as raised:
        new_event("reminder.requested", {
            "notification_id": str(uuid.uuid4()), "case_id": "c", "stage": "reminder",
            "channels": ["pigeon"], "template": "reminder",
            "recipient": {"owner_id": "o", "name": "Emily Chen"},
        })

    assert "channels" in raised.value.messages


def test_new_event_refuses_an_event_type_nobody_registered():
    with pytest.raises(KeyError):
        new_event("case.reopened", {"case_id": "c"})


def test_a_new_event_carries_the_correlation_id_bound_at_the_time():
    token = bind_correlation_id("corr-from-request")
    try:
        event = case_opened()
    finally:
        reset_correlation_id(token)

    assert decode(event.to_json()).correlation_id == "corr-from-request"
    assert case_opened().correlation_id != "corr-from-request"


def test_a_new_event_payload_is_already_in_its_wire_form():
    event = case_opened()

    assert event.payload["amount_owed"] == "2860.00"
    assert isinstance(decode(event.to_json()).occurred_at, datetime)
