"""The notifier's schedule tables on PostgreSQL: windows, caps, cancellation, two dispatchers at once."""
from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import date

import pytest

from services.notifier.bootstrap import bootstrap
from shared.config import Settings
from tests import support
from tests.fakes.replies import Reply
from tests.unit.test_governor import FAST, World, at, wall, worlds

pytestmark = pytest.mark.postgres
DAY = date(2025, 3, 12)


@pytest.fixture
def world(postgres_url, tmp_path):
    support.migrate_postgres("notifier", postgres_url)
    with worlds(tmp_path, postgres_url) as build:
        yield build(at(DAY, "06:00"))


def test_a_day_of_windows_on_postgresql_sends_each_slot_once_and_defers_the_one_over_the_cap(world):
    notifications = [world.request(slot=n, channels=["sms"]) for n in range(3)]
    # The first request again, under a new message id (cases republished it): kept once.
    world.deliver("reminder.requested", _request_payload(world, notifications[0]))

    world.run_until(at(DAY, "23:00"))

    rows = {r["notification_id"]: r for r in world.rows()}
    assert [wall(rows[n]["sent_at"]) for n in notifications[:2]] == ["03-12 09:30", "03-12 14:00"]
    assert rows[notifications[2]]["status"] == "deferred"
    assert rows[notifications[2]]["reason"] == "sms cap of 2 a day reached; next try 2025-03-13 09:30"
    assert len(world.twilio.requests) == 2


def test_a_payment_between_windows_on_postgresql_cancels_the_rest_and_what_arrives_after_it(world):
    for slot in range(3):
        world.request(slot=slot)
    world.run_until(at(DAY, "12:00"))

    world.deliver("payment.recorded", {"payment_id": "pay-1", "case_id": "case-owner-1", "owner_id": "owner-1",
                                       "community": "lakeside-garden", "amount": "2860.00", "paid_on": DAY,
                                       "amount_owed_after": "0.00"})
    late = world.request(slot=2, occurred_at=at(DAY, "11:00"))  # published before the payment, arrives after
    world.run_until(at(DAY, "23:00"))

    statuses = Counter((r["status"], r["reason"]) for r in world.rows())
    assert statuses == {("sent", None): 2, ("cancelled", "payment recorded"): 6}
    assert world.row(late, "sms")["status"] == "cancelled"
    assert (len(world.twilio.requests), len(world.sendgrid.requests)) == (1, 1)


def test_twilio_21610_on_postgresql_suppresses_the_number(world):
    first = world.request(channels=["sms"])
    later = world.request(channels=["sms"], slot=1)
    world.twilio.script(Reply.error(400, code=21610))

    world.run_until(at(DAY, "15:00"))

    assert world.row(first, "sms")["status"] == "failed"
    assert world.row(later, "sms")["reason"] == "opted out of sms (provider_21610)"
    assert len(world.twilio.requests) == 1


def test_two_dispatchers_at_once_never_send_a_row_twice_nor_one_owner_two_in_a_window(world):
    owners = [f"owner-{n}" for n in range(15)]
    for owner in owners:
        world.request(owner=owner, channels=["sms"])
        world.request(owner=owner, channels=["sms"], case_id=f"other-{owner}")
    world.now = at(DAY, "09:30")
    providers_in_use = world.notifier.sender.providers
    second = bootstrap(Settings.from_env({"GATEWAY_PUBLIC_URL": "http://gw.test"}), FAST, engine=world.engine,
                       sms=providers_in_use["sms"], email=providers_in_use["email"], clock=lambda: world.now)

    threads = [threading.Thread(target=d.tick) for d in (world.notifier.dispatcher, second.dispatcher)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    per_owner = Counter(request["To"] for request in world.twilio.requests)
    assert len(per_owner) == len(owners) and set(per_owner.values()) == {1}
    statuses = Counter(r["status"] for r in world.rows())
    assert statuses == {"sent": len(owners), "deferred": len(owners)}


def _request_payload(world: World, notification_id: str) -> dict:
    [row] = world.rows(notification_id=notification_id)
    return json.loads(row["payload"])
