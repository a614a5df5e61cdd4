"""On the real RabbitMQ the notifier's queue receives auto-reply and staff-report requests and letter
stages: each is handled once, however often it is published."""
from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest

from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.topology import Topology
from tests.integration.bus import running_consumer, wait_for
from tests.unit.test_auto_replies import texts_to
from tests.unit.test_governor import COMMUNITY, at, phone_of, worlds
from tests.unit.test_print_queue import queued
from tests.unit.test_staff_mail import mails

pytestmark = pytest.mark.broker
DAY = date(2025, 3, 12)


@pytest.fixture
def world(tmp_path):
    with worlds(tmp_path) as build:
        yield build(at(DAY, "11:30"))


def test_requests_arriving_through_rabbitmq_are_answered_mailed_and_queued_once(world, rabbit_url, namespace):
    topology = Topology(namespace)
    publisher = EventPublisher(connect(rabbit_url), topology)
    reply_id = str(uuid.uuid4())
    answer = new_event("autoreply.requested", {
        "reply_id": reply_id, "kind": "ask_date", "channel": "sms", "address": phone_of("owner-1"),
        "owner_id": "owner-1", "community": COMMUNITY})
    same_reply_again = new_event("autoreply.requested", {**answer.payload})
    staff_report = new_event("staff_report.requested", {
        "report_id": str(uuid.uuid4()), "kind": "three_day", "recipients": ["li.manager@example.com"],
        "subject": "三日报", "html": "<p>三日报</p>", "text": "三日报"})
    letter = new_event("reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": "case-owner-1", "community": COMMUNITY, "stage": "notice",
        "channels": ["letter"], "template": "notice",
        "recipient": {"owner_id": "owner-1", "name": "王芳", "locale": "zh-CN"},
        "context": {"amount_owed": "2860.00"}})
    stop = threading.Event()
    loop = threading.Thread(target=world.notifier.prompt.run, args=(stop,), daemon=True)
    loop.start()
    try:
        with running_consumer(rabbit_url, topology, "notifier", world.notifier.handle):
            for event in (answer, answer, same_reply_again, staff_report, staff_report, letter, letter):
                publisher.publish(event)
            wait_for(lambda: texts_to(world) and mails(world) and queued(world), timeout=30)
    finally:
        stop.set()
        loop.join(timeout=10)
        publisher.connection.release()
    world.notifier.prompt.tick()  # anything a duplicate left behind would go out now

    assert len(texts_to(world)) == 1 and "哪一天" in texts_to(world)[0]
    assert len(mails(world)) == 1
    assert [r["status"] for r in queued(world)] == ["waiting"]
