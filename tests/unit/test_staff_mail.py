"""Staff mail: a report goes to each manager by SendGrid once, whatever the governor, the suppression
list or the hour say, with no Reply-To token."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select, update

from services.notifier.staff_mail import notification_id
from services.notifier.tables import send_ledger, staff_mail
from tests.fakes.replies import Reply
from tests.unit.test_governor import at, worlds

DAY = date(2025, 3, 12)
MANAGERS = ["li.manager@example.com", "Wang.Manager@example.com"]


@pytest.fixture
def world_at(tmp_path):
    with worlds(tmp_path) as build:
        yield build


def report(world, recipients=MANAGERS, report_id: str | None = None) -> str:
    report_id = report_id or str(uuid.uuid4())
    world.deliver("staff_report.requested", {
        "report_id": report_id, "kind": "daily_progress", "community": "lakeside-garden",
        "recipients": list(recipients), "subject": "今日催收进度", "text": "已收回 12,000.00 元",
        "html": "<table><tr><td style='width:40%'>已收回</td></tr></table>",
    })
    return report_id


def mails(world) -> list[dict]:
    return world.sendgrid.requests


def rows(world) -> dict[str, dict]:
    with world.engine.connect() as connection:
        return {r["recipient"]: dict(r) for r in connection.execute(select(staff_mail)).mappings()}


def test_each_manager_gets_the_report_once_with_its_html_and_no_reply_to_token(world_at):
    world = world_at(at(DAY, "23:30"))  # quiet hours do not apply to staff
    report_id = report(world)

    world.notifier.prompt.tick()
    world.notifier.prompt.tick()

    assert sorted(m["personalizations"][0]["to"][0]["email"] for m in mails(world)) == \
        ["li.manager@example.com", "wang.manager@example.com"]
    for mail in mails(world):
        content = {c["type"]: c["value"] for c in mail["content"]}
        assert mail["subject"] == "今日催收进度" and "width:40%" in content["text/html"]
        assert content["text/plain"] == "已收回 12,000.00 元"
        assert "reply_to" not in mail
        assert mail["custom_args"]["notification_id"] in {notification_id(report_id, m) for m in MANAGERS}
    assert {r["status"] for r in rows(world).values()} == {"sent"}
    with world.engine.connect() as connection:
        ledger = connection.execute(select(send_ledger.c.status, send_ledger.c.provider)
                                    .where(send_ledger.c.case_id == report_id)).all()
    assert sorted(ledger) == [("sent", "sendgrid"), ("sent", "sendgrid")]


def test_the_same_report_delivered_again_or_naming_a_manager_twice_mails_once(world_at):
    world = world_at(at(DAY, "10:00"))
    report_id = report(world, recipients=["li.manager@example.com", "LI.manager@example.com"])
    report(world, recipients=["li.manager@example.com"], report_id=report_id)

    world.notifier.prompt.tick()

    assert len(mails(world)) == 1


def test_a_mail_the_ledger_has_sent_is_not_sent_again_after_a_crash(world_at):
    world = world_at(at(DAY, "10:00"))
    report(world, recipients=["li.manager@example.com"])
    world.notifier.prompt.tick()
    with world.engine.begin() as connection:  # as if the worker died before recording the outcome
        connection.execute(update(staff_mail).values(status="queued"))

    world.notifier.prompt.tick()

    assert len(mails(world)) == 1
    assert rows(world)["li.manager@example.com"]["reason"] == "already handled by the send ledger"


def test_staff_mail_ignores_the_owners_governor_and_suppression_list(world_at):
    world = world_at(at(DAY, "10:00"))
    world.deliver("suppression.changed", {"channel": "email", "address": "li.manager@example.com",
                                          "opted_out": True, "source": "reply"})
    for _ in range(3):  # more than the email cap of one a day
        report(world, recipients=["li.manager@example.com"])

    world.notifier.prompt.tick()

    assert len(mails(world)) == 3


def test_a_sendgrid_outage_is_retried_and_a_refusal_is_recorded(world_at):
    world = world_at(at(DAY, "10:00"))
    world.sendgrid.script(Reply.error(429))
    report(world, recipients=["li.manager@example.com"])

    world.notifier.prompt.tick()
    waiting = rows(world)["li.manager@example.com"]
    world.now = at(DAY, "10:30")
    world.notifier.prompt.tick()
    world.sendgrid.script(Reply.error(400))
    report(world, recipients=["wang.manager@example.com"])
    world.notifier.prompt.tick()

    assert (waiting["status"], waiting["reason"]) == ("retry", "provider unavailable (429)")
    assert rows(world)["li.manager@example.com"]["status"] == "sent"
    assert (rows(world)["wang.manager@example.com"]["status"], rows(world)["wang.manager@example.com"]["reason"]) \
        == ("failed", "provider refused (400)")
