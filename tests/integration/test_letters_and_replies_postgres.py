"""The print queue, auto-replies and staff mail on PostgreSQL (its upserts, row locks and advisory locks)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.notifier.app import create_app
from tests import support
from tests.unit.sqlite_services import root_logging_kept, set_environment
from tests.unit.test_auto_replies import ask, row, texts_to
from tests.unit.test_governor import COMMUNITY, at, worlds
from tests.unit.test_print_queue import SECRET, ask_letter, events, queued, staff
from tests.unit.test_staff_mail import mails, report

pytestmark = pytest.mark.postgres
DAY = date(2025, 3, 12)


@pytest.fixture
def world_at(postgres_url, tmp_path):
    support.migrate_postgres("notifier", postgres_url)
    with worlds(tmp_path, postgres_url) as build:
        yield build


def test_a_letter_is_queued_printed_and_posted_once_on_postgresql(world_at, postgres_url, tmp_path, monkeypatch):
    world = world_at(at(DAY, "06:00"))
    notification_id = ask_letter(world)
    cancelled = ask_letter(world, owner="owner-2")
    world.now += timedelta(minutes=1)
    world.deliver("payment.recorded", {"payment_id": "p-1", "case_id": "case-owner-2", "owner_id": "owner-2",
                                       "community": COMMUNITY, "amount": "1.00", "paid_on": DAY,
                                       "amount_owed_after": "0.00"})
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET)
    with root_logging_kept():
        app = create_app({"DATABASE_URL": postgres_url})
    client = app.test_client()
    posting = {"tracking_number": "XA123456789CN", "posted_on": str(DAY)}

    printed = [client.post(f"/api/v1/letters/{notification_id}/printed", headers=staff()).status_code
               for _ in range(2)]
    posted = [client.post(f"/api/v1/letters/{notification_id}/posted", json=posting, headers=staff()).status_code
              for _ in range(2)]
    refused = client.post(f"/api/v1/letters/{cancelled}/posted", json=posting, headers=staff())
    app.extensions["notifier.db"].dispose()

    assert printed == [200, 200] and posted == [200, 200] and refused.status_code == 409
    assert queued(world, notification_id=notification_id)[0]["status"] == "posted"
    assert len(events(world, "message.sent")) == 1


def test_auto_replies_are_sent_once_within_the_caps_on_postgresql(world_at):
    world = world_at(at(DAY, "11:30"))
    reply_id = "5b0c3a57-8f5e-4a4e-9f0a-1d2c3b4a5e6f"
    first = ask(world, reply_id=reply_id)
    ask(world, reply_id=reply_id)
    second = ask(world, kind="help")
    third = ask(world, kind="ask_date")

    world.notifier.prompt.tick()

    assert len(texts_to(world)) == 2
    assert sorted(row(world, n)["status"] for n in (first, second, third)) == ["expired", "sent", "sent"]


def test_staff_mail_goes_once_per_manager_on_postgresql(world_at):
    world = world_at(at(DAY, "10:00"))
    report_id = report(world)
    report(world, report_id=report_id)

    world.notifier.prompt.tick()
    world.notifier.prompt.tick()

    assert len(mails(world)) == 2
