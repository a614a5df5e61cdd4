"""Payments, promises, closed cases and opt-outs cancel what is still waiting; 21610 suppresses."""
from __future__ import annotations

import threading
import time as clock
from dataclasses import replace
from datetime import date, timedelta

import pytest

from services.notifier.app import create_app
from shared.auth import issue_token
from tests.fakes.replies import Reply
from tests.unit.sqlite_services import root_logging_kept, set_environment
from tests.unit.test_governor import COMMUNITY, at, phone_of, wall, worlds

DAY = date(2025, 3, 12)


@pytest.fixture
def world_at(tmp_path):
    with worlds(tmp_path) as build:
        yield build


def payment(owner: str = "owner-1", owed_after: str = "0.00") -> tuple[str, dict]:
    return "payment.recorded", {"payment_id": "pay-1", "case_id": f"case-{owner}", "owner_id": owner,
                                "community": COMMUNITY, "amount": "2860.00", "paid_on": DAY,
                                "amount_owed_after": owed_after}


def closed(owner: str = "owner-1") -> tuple[str, dict]:
    return "case.closed", {"case_id": f"case-{owner}", "owner_id": owner, "reason": "paid"}


def promised(owner: str = "owner-1") -> tuple[str, dict]:
    return "promise.recorded", {"promise_id": "promise-1", "case_id": f"case-{owner}", "owner_id": owner,
                                "promised_date": DAY + timedelta(days=7), "amount": None, "source": "sms"}


def opted_out(channel: str, address: str) -> tuple[str, dict]:
    return "suppression.changed", {"channel": channel, "address": address, "opted_out": True, "source": "reply"}


@pytest.mark.parametrize(("event", "reason"), [
    (payment(), "payment recorded"),
    (payment(owed_after="100.00"), "payment recorded"),  # a part payment too: the amounts quoted are stale
    (closed(), "case closed (paid)"),
    (promised(), "promise to pay by 2025-03-19"),
], ids=["payment", "part-payment", "case-closed", "promise"])
def test_an_event_before_the_window_cancels_every_waiting_send_and_nothing_goes_out(world_at, event, reason):
    world = world_at(at(DAY, "06:00"))
    for slot in range(3):
        world.request(slot=slot)
    world.request(owner="neighbour")

    world.now = at(DAY, "08:00")
    world.deliver(*event)
    world.run_until(at(DAY, "23:00"))

    mine = world.rows(owner_id="owner-1")
    assert {(r["status"], r["reason"]) for r in mine} == {("cancelled", reason)}
    assert world.sms_to("owner-1") == [] and world.emails_to("owner-1") == []
    assert len(world.sms_to("neighbour")) == 1  # other owners are not touched


def test_a_payment_arriving_between_two_windows_stops_everything_after_it(world_at):
    world = world_at(at(DAY, "06:00"))
    for slot in range(3):
        world.request(slot=slot, channels=["sms"])
    world.run_until(at(DAY, "12:00"))
    assert len(world.sms_to("owner-1")) == 1

    world.deliver(*payment())
    world.run_until(at(DAY + timedelta(days=2), "23:00"))

    assert len(world.sms_to("owner-1")) == 1
    assert [r["status"] for r in world.rows(owner_id="owner-1")] == ["sent", "cancelled", "cancelled"]


def test_a_request_arriving_after_the_payment_that_came_later_is_cancelled_on_arrival(world_at):
    world = world_at(at(DAY, "06:00"))
    world.deliver(*payment(), occurred_at=at(DAY, "06:30"))

    stale = world.request(channels=["sms"], occurred_at=at(DAY, "06:10"))  # published before the payment
    fresh = world.request(channels=["sms"], case_id="case-owner-1-new", occurred_at=at(DAY, "07:00"))
    world.run_until(at(DAY, "10:00"))

    assert (world.row(stale, "sms")["status"], world.row(stale, "sms")["reason"]) == ("cancelled", "payment recorded")
    assert world.row(fresh, "sms")["status"] == "sent"


def test_a_payment_while_the_window_goes_out_cancels_the_sends_picked_but_not_yet_made(world_at):
    world = world_at(at(DAY, "09:30"))
    twilio, sendgrid = world.twilio, world.sendgrid
    notification = world.request()  # email then sms, in one batch
    sendgrid.script(Reply.slow(0.5))

    def pay_while_the_email_is_in_flight():
        deadline = clock.monotonic() + 5
        while not sendgrid.requests and clock.monotonic() < deadline:
            clock.sleep(0.01)
        world.deliver(*payment())

    payer = threading.Thread(target=pay_while_the_email_is_in_flight)
    payer.start()
    outcomes = world.tick()
    payer.join()

    assert outcomes["sent"] == 1 and outcomes["cancelled"] == 1
    assert world.row(notification, "email")["status"] == "sent"
    assert (world.row(notification, "sms")["status"], world.row(notification, "sms")["reason"]) == (
        "cancelled", "payment recorded")
    assert twilio.requests == []


@pytest.mark.parametrize(("channel", "address"), [("sms", None), ("email", "OWNER-1@Example.com")],
                         ids=["sms", "email-any-case"])
def test_an_opt_out_cancels_that_channel_only_and_the_other_still_goes(world_at, channel, address):
    world = world_at(at(DAY, "06:00"))
    notification = world.request()

    world.deliver(*opted_out(channel, address or phone_of("owner-1")))
    world.run_until(at(DAY, "10:00"))

    other = "email" if channel == "sms" else "sms"
    assert world.row(notification, channel)["status"] == "cancelled"
    assert world.row(notification, channel)["reason"] == f"opted out of {channel} (reply)"
    assert world.row(notification, other)["status"] == "sent"


def test_a_suppressed_address_is_skipped_with_the_reason_on_later_requests_until_it_opts_in(world_at):
    world = world_at(at(DAY, "06:00"))
    world.deliver(*opted_out("sms", phone_of("owner-1")))
    skipped = world.request(channels=["sms"])
    world.run_until(at(DAY, "10:00"))

    assert (world.row(skipped, "sms")["status"], world.row(skipped, "sms")["reason"]) == (
        "skipped", "suppressed: opted out of sms (reply)")

    world.deliver("suppression.changed", {"channel": "sms", "address": phone_of("owner-1"), "opted_out": False,
                                          "source": "reply"})
    again = world.request(channels=["sms"], slot=1)
    world.run_until(at(DAY, "14:15"))

    assert world.row(again, "sms")["status"] == "sent" and len(world.sms_to("owner-1")) == 1


def test_an_older_opt_in_arriving_late_does_not_undo_a_newer_opt_out(world_at):
    world = world_at(at(DAY, "06:00"))
    world.deliver(*opted_out("sms", phone_of("owner-1")), occurred_at=at(DAY, "05:00"))
    world.deliver("suppression.changed", {"channel": "sms", "address": phone_of("owner-1"), "opted_out": False,
                                          "source": "reply"}, occurred_at=at(DAY, "04:00"))
    notification = world.request(channels=["sms"])

    world.run_until(at(DAY, "10:00"))

    assert world.row(notification, "sms")["status"] == "skipped" and world.sms_to("owner-1") == []


def test_twilio_21610_fails_the_send_and_suppresses_the_number_for_every_later_send(world_at):
    world = world_at(at(DAY, "06:00"))
    twilio = world.twilio
    first = world.request(channels=["sms"])
    later = world.request(channels=["sms"], slot=1)
    twilio.script(Reply.error(400, code=21610))

    world.run_until(at(DAY, "15:00"))

    assert (world.row(first, "sms")["status"], world.row(first, "sms")["reason"]) == (
        "failed", "provider refused (21610)")
    assert world.row(later, "sms")["status"] == "cancelled"
    assert world.row(later, "sms")["reason"] == "opted out of sms (provider_21610)"
    assert len(twilio.requests) == 1


def test_a_delivered_request_again_neither_adds_a_row_nor_sends_twice(world_at):
    world = world_at(at(DAY, "09:30"))
    event = world.deliver("reminder.requested", {
        "notification_id": "6f1c1d7e-4b0e-4a53-9a55-8d1c3c7f0b11", "case_id": "case-owner-1",
        "community": COMMUNITY, "stage": "reminder", "slot": 0, "send_on": DAY, "channels": ["sms", "email"],
        "template": "reminder", "recipient": {"owner_id": "owner-1", "name": "王芳", "phone": phone_of("owner-1"),
                                              "email": "owner-1@example.com", "locale": "zh-CN"},
    })
    world.tick()
    world.notifier.handle(event)  # the broker redelivers it
    world.notifier.handle(replace(event, id="f4a9e2a4-0d6d-4c31-8d7e-2f5b0f3c9a10"))  # republished under a new id
    world.tick()

    assert len(world.rows()) == 2 and {r["status"] for r in world.rows()} == {"sent"}
    assert (len(world.sms_to("owner-1")), len(world.emails_to("owner-1"))) == (1, 1)
    assert wall(world.rows()[0]["sent_at"]) == "03-12 09:30"


def test_the_owners_outbox_shows_what_was_sent_deferred_and_cancelled_and_why(world_at, monkeypatch, tmp_path):
    world = world_at(at(DAY, "06:00"))
    morning, afternoon, evening = (world.request(slot=n, channels=["sms"]) for n in range(3))
    world.request(channels=["email"], send_on=DAY + timedelta(days=1))  # tomorrow's, still waiting
    world.run_until(at(DAY, "19:45"))
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), SECRET_KEY="outbox-secret")
    with root_logging_kept():
        app = create_app({"DATABASE_URL": world.engine.url.render_as_string(hide_password=False)})
    client = app.test_client()
    collector = {"Authorization": f"Bearer {issue_token('outbox-secret', 'c-1', 'collector', [COMMUNITY])}"}
    stranger = {"Authorization": f"Bearer {issue_token('outbox-secret', 'c-2', 'collector', ['elsewhere'])}"}

    before = client.get("/api/v1/owners/owner-1/outbox", headers=collector)
    world.deliver(*promised())
    after = client.get("/api/v1/owners/owner-1/outbox", headers=collector)

    assert before.status_code == after.status_code == 200
    shown = {item["notification_id"]: item for item in before.json["items"]}
    assert before.json["counts"] == {"sent": 2, "deferred": 1, "pending": 1}
    assert shown[morning]["provider"] == "twilio" and shown[morning]["provider_message_id"] in world.twilio.messages
    assert shown[afternoon]["status"] == "sent" and shown[afternoon]["sent_at"].startswith("2025-03-12T06:00")
    assert shown[evening]["reason"] == "sms cap of 2 a day reached; next try 2025-03-13 09:30"
    assert "payload" not in shown[morning] and "address" not in shown[morning]
    assert after.json["counts"] == {"sent": 2, "cancelled": 2}
    assert {i["reason"] for i in after.json["items"] if i["status"] == "cancelled"} == {"promise to pay by 2025-03-19"}
    assert client.get("/api/v1/owners/owner-1/outbox", headers=stranger).json["items"] == []
    assert client.get("/api/v1/owners/owner-1/outbox").status_code == 401
