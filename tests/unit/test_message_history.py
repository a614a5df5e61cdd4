"""Each message on a case keeps every status reported for it, with when it happened: the case record
shows a text was sent at 09:30 and delivered at 09:31, not only that it is delivered now."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.cases.deliveries import on_delivery_reported, on_message_failed, on_message_sent
from services.cases.timeline import case_timeline, render_html
from shared.envelope import decode, new_event
from tests.unit.report_builders import COMMUNITY, World, day, local
from tests.unit.sqlite_services import add_community, migrated_database

NOTIFICATION = str(uuid.uuid4())
SENT_AT = local(day(10, 1), 9, 30)  # 09:30 in Shanghai


@pytest.fixture
def engine(tmp_path):
    from shared.db import make_engine

    engine = make_engine(migrated_database(tmp_path, "cases"))
    add_community(engine, COMMUNITY)
    with engine.begin() as connection:
        World(connection).case("H1", "800.00")
    yield engine
    engine.dispose()


def sent(channel: str = "sms", notification: str = NOTIFICATION):
    return new_event("message.sent", {
        "notification_id": notification, "case_id": "H1", "channel": channel, "address": "+8613800138001",
        "provider": "twilio", "provider_message_id": "SM" + notification.replace("-", ""), "sent_at": SENT_AT})


def reported(status: str, minute: int, error_code: str | None = None, notification: str = NOTIFICATION):
    return new_event("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": "SM" + notification.replace("-", ""),
        "notification_id": notification, "status": status, "error_code": error_code,
        "reported_at": local(day(10, 1), 9, minute)})


def handle(engine, *events) -> None:
    handlers = {"message.sent": on_message_sent, "delivery.reported": on_delivery_reported,
                "message.failed": on_message_failed}
    for event in events:
        with engine.begin() as connection:
            handlers[event.type](connection, decode(event.to_json()))  # as the consumer receives it


def message_entries(engine):
    with engine.connect() as connection:
        return [e for e in case_timeline(connection, "H1").entries if e.kind == "message"]


def test_every_reported_status_is_kept_in_the_order_it_happened(engine):
    handle(engine, sent(), reported("sent", 30), reported("delivered", 31))

    [message] = message_entries(engine)
    assert message.detail["status"] == "delivered"
    assert [(step["status"], step["at"]) for step in message.detail["history"]] == [
        ("sent", "2026-10-01T09:30:00+08:00"), ("sent", "2026-10-01T09:30:00+08:00"),
        ("delivered", "2026-10-01T09:31:00+08:00")]


def test_a_report_that_arrives_late_keeps_the_furthest_status_and_its_own_time(engine):
    handle(engine, reported("delivered", 31), sent(), reported("sent", 30))  # the callbacks overtook each other

    [message] = message_entries(engine)
    assert message.detail["status"] == "delivered"
    assert [step["status"] for step in message.detail["history"]] == ["sent", "sent", "delivered"]


def test_a_failure_keeps_its_error_code_in_the_history(engine):
    handle(engine, sent(), reported("undelivered", 35, error_code="30005"))

    [message] = message_entries(engine)
    assert message.detail["history"][-1] == {"status": "undelivered", "at": "2026-10-01T09:35:00+08:00",
                                             "error_code": "30005"}


def test_each_message_has_only_its_own_history(engine):
    other = str(uuid.uuid4())
    handle(engine, sent(), sent(notification=other), reported("delivered", 31, notification=other))

    histories = {e.detail["notification_id"]: [s["status"] for s in e.detail["history"]]
                 for e in message_entries(engine)}
    assert histories == {NOTIFICATION: ["sent"], other: ["sent", "delivered"]}


def test_the_printable_record_shows_when_each_status_happened(engine):
    handle(engine, sent(), reported("delivered", 31))
    with engine.connect() as connection:
        record = case_timeline(connection, "H1")

    document = render_html(record, datetime(2026, 10, 2, tzinfo=UTC), "tester", {})

    assert "投递记录" in document
    assert "已发送 2026-10-01 09:30; 已送达 2026-10-01 09:31" in document
