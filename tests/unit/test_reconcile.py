"""Sends whose outcome is unknown: settled by a delivery report, else released for exactly one resend."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.notifier import ledger, pending
from services.notifier.reconcile import reconcile_after
from services.notifier.tables import outbox, send_ledger
from shared.config import ConfigError
from tests.fakes.replies import Reply
from tests.unit.test_governor import at, worlds

DAY = date(2025, 3, 12)


@pytest.fixture
def world(tmp_path):
    with worlds(tmp_path) as build:
        yield build(at(DAY, "09:30"))


def report(world, notification: str, provider_message_id: str = "SMreported", status: str = "delivered"):
    world.deliver("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": provider_message_id,
        "notification_id": notification, "address": None, "status": status, "error_code": None,
        "reported_at": world.now,
    })


def ledger_row(world, notification: str) -> dict:
    with world.engine.connect() as connection:
        return dict(connection.execute(select(send_ledger).where(
            send_ledger.c.notification_id == notification)).mappings().one())


def sent_events(world) -> list[dict]:
    with world.engine.connect() as connection:
        return [r for r in connection.execute(select(outbox)).mappings() if r["routing_key"] == "message.sent"]


def test_a_delivery_report_settles_an_unknown_send_as_sent_without_a_second_call(world):
    notification = world.request(channels=["sms"])
    world.twilio.script(Reply.accepted_then_error(500))
    world.tick()
    assert world.row(notification, "sms")["status"] == "unknown"

    report(world, notification, "SMabc")
    world.run_until(at(DAY, "12:00"))

    assert (world.row(notification, "sms")["status"], ledger_row(world, notification)["status"]) == ("sent", "sent")
    assert ledger_row(world, notification)["provider_message_id"] == "SMabc"
    assert ledger_row(world, notification)["delivery_status"] == "delivered"
    assert len(sent_events(world)) == 1
    assert len(world.twilio.requests) == 1


@pytest.mark.parametrize("status", ["undelivered", "failed"])
def test_even_a_failed_delivery_report_proves_the_provider_took_it(world, status):
    notification = world.request(channels=["sms"])
    world.twilio.script(Reply.accepted_then_error(503))
    world.tick()

    report(world, notification, status=status)
    world.run_until(at(DAY, "12:00"))

    assert ledger_row(world, notification)["status"] == "sent"
    assert len(world.twilio.requests) == 1


def test_an_unknown_send_nobody_confirms_is_released_for_exactly_one_resend(world):
    notification = world.request(channels=["sms"])
    world.twilio.script(Reply.error(500), Reply.error(500))
    world.tick()
    world.now += timedelta(minutes=14)
    world.tick()
    assert len(world.twilio.requests) == 1  # not before RECONCILE_AFTER_SECONDS

    world.run_until(at(DAY, "20:00"))

    assert len(world.twilio.requests) == 2  # the one resend was unknown too: no third call
    assert world.row(notification, "sms")["status"] == "unknown"
    assert ledger_row(world, notification)["delivery_status"] == "unconfirmed"


def test_a_released_send_that_goes_through_ends_sent(world):
    notification = world.request(channels=["sms"])
    world.twilio.script(Reply.slow(3))  # the client gives up after 2 s
    world.tick()

    world.twilio.callbacks_enabled = False
    world.run_until(at(DAY, "10:30"))

    assert world.row(notification, "sms")["status"] == "sent"
    assert ledger_row(world, notification)["attempts"] == 2
    assert len(world.twilio.requests) == 2


def test_a_report_for_a_released_send_still_waiting_stops_the_resend(world):
    notification = world.request(channels=["sms"])
    world.twilio.script(Reply.error(500))
    world.tick()
    world.now += timedelta(minutes=15)
    with world.engine.begin() as connection:
        world.notifier.dispatcher.reconciler.release_unconfirmed(connection, world.now)
    assert world.row(notification, "sms")["status"] == "pending"

    report(world, notification)  # the lost callback turns up after all
    world.run_until(at(DAY, "12:00"))

    assert world.row(notification, "sms")["status"] == "sent"
    assert len(world.twilio.requests) == 1


def test_a_payment_while_the_outcome_was_unknown_cancels_the_release(world):
    notification = world.request(channels=["sms"])
    world.twilio.script(Reply.error(500))
    world.tick()
    world.deliver("payment.recorded", {"payment_id": "pay-1", "case_id": "case-owner-1", "owner_id": "owner-1",
                                       "community": "lakeside-garden", "amount": "2860.00", "paid_on": DAY,
                                       "amount_owed_after": "0.00"})

    world.run_until(at(DAY, "20:00"))

    row = world.row(notification, "sms")
    assert (row["status"], row["reason"]) == ("cancelled", "payment recorded (while its outcome was unknown)")
    assert len(world.twilio.requests) == 1


def test_a_crash_mid_call_is_settled_by_the_report_of_the_message_that_went(world):
    notification = world.request(channels=["sms"])
    key = pending.Key(notification, "sms")
    with world.engine.begin() as connection:  # claimed for the call, then the process died
        assert pending.claim(connection, key, world.now)
        pending.admit(connection, key, world.now)
        assert ledger.claim(connection, notification, "sms", "case-owner-1", "owner-1").granted

    report(world, notification, "SMcrash")
    world.run_until(at(DAY, "12:00"))

    assert world.row(notification, "sms")["status"] == "sent"
    assert ledger_row(world, notification)["provider_message_id"] == "SMcrash"
    assert world.twilio.requests == []


def test_a_report_for_a_send_already_sent_changes_only_its_delivery_status(world):
    notification = world.request(channels=["sms"])
    world.tick()
    first_id = ledger_row(world, notification)["provider_message_id"]

    report(world, notification, first_id, status="delivered")

    assert ledger_row(world, notification)["delivery_status"] == "delivered"
    assert len(sent_events(world)) == 1


@pytest.mark.parametrize("environ, expected", [({}, timedelta(seconds=900)),
                                               ({"RECONCILE_AFTER_SECONDS": "60"}, timedelta(seconds=60))])
def test_the_wait_before_a_release_comes_from_the_environment(environ, expected):
    assert reconcile_after(environ) == expected


def test_a_wait_that_is_not_a_number_is_refused():
    with pytest.raises(ConfigError, match="RECONCILE_AFTER_SECONDS"):
        reconcile_after({"RECONCILE_AFTER_SECONDS": "later"})
