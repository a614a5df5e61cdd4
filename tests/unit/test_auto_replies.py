"""Auto-replies: once per (reply, kind), at once but never in quiet hours, within the governor's caps,
expired rather than late, nothing to an opted-out address but one opt-out confirmation, through the
send ledger like a reminder, and shown in the owner's outbox."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from services.notifier.app import create_app
from services.notifier.autoreplies import expires_after, notification_id
from services.notifier.tables import auto_replies, send_ledger
from shared.auth import issue_token
from shared.config import ConfigError, Settings
from shared.reply_address import read_reply_address
from tests.fakes.replies import Reply
from tests.unit.sqlite_services import root_logging_kept, set_environment
from tests.unit.test_governor import COMMUNITY, at, phone_of, worlds

DAY = date(2025, 3, 12)  # a Wednesday; windows 09:30 / 14:00 / 19:30, quiet 21:00-08:00 (Shanghai)
PHONE = phone_of("owner-1")
SECRET = Settings.from_env({}).secret_key  # the worker's in these tests


@pytest.fixture
def world_at(tmp_path):
    with worlds(tmp_path) as build:
        yield build


def ask(world, kind: str = "promise_ack", channel: str = "sms", address: str = PHONE, owner: str | None = "owner-1",
        locale: str = "zh-CN", reply_id: str | None = None, **context) -> str:
    reply_id = reply_id or str(uuid.uuid4())
    world.deliver("autoreply.requested", {
        "reply_id": reply_id, "kind": kind, "channel": channel, "address": address, "locale": locale,
        "owner_id": owner, "case_id": f"case-{owner}" if owner else None, "community": COMMUNITY,
        "context": context or ({"promised_date": "2025-03-21"} if kind == "promise_ack" else {}),
    })
    return notification_id(reply_id, kind)


def row(world, nid: str) -> dict:
    with world.engine.connect() as connection:
        return dict(connection.execute(select(auto_replies).where(auto_replies.c.notification_id == nid))
                    .mappings().one())


def texts_to(world, phone: str = PHONE) -> list[str]:
    return [r["Body"] for r in world.twilio.requests if r.get("To") == phone]


def prompt(world):
    return world.notifier.prompt.tick()


def test_a_promise_is_acknowledged_at_once_with_its_date_outside_any_send_window(world_at):
    world = world_at(at(DAY, "11:30"))  # between the 09:30 and 14:00 windows
    nid = ask(world)

    prompt(world)

    [text] = texts_to(world)
    assert text == "【物业服务中心】我们已记录您承诺于2025年3月21日缴纳物业费，谢谢。回复TD退订"
    assert row(world, nid)["status"] == "sent"
    with world.engine.connect() as connection:
        ledger = connection.execute(select(send_ledger).where(send_ledger.c.notification_id == nid)).mappings().one()
    assert (ledger["status"], ledger["provider"]) == ("sent", "twilio")
    assert ledger["provider_message_id"] in world.twilio.messages


def test_the_workers_loop_answers_as_soon_as_a_request_is_kept_not_at_its_next_poll(world_at):
    world = world_at(at(DAY, "11:30"))
    loop = world.notifier.prompt
    loop.poll_seconds = 600
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.2)  # let the loop make its first (empty) pass and start waiting
        ask(world)
        deadline = time.monotonic() + 20
        while not texts_to(world) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)

    assert len(texts_to(world)) == 1


def test_an_english_owner_is_answered_in_english_with_the_opt_out_hint(world_at):
    world = world_at(at(DAY, "11:30"))
    ask(world, locale="en")

    prompt(world)

    assert texts_to(world) == ["Property service centre: We have noted your promise to pay on 21 March 2025. "
                               "Thank you. Reply STOP to opt out"]


@pytest.mark.parametrize(("kind", "context", "expected"), [
    ("ask_date", {}, "请问您具体哪一天可以缴纳？回复日期即可，例如：下周五"),
    ("faq_answer", {"answer": "物业费用于小区保洁、安保和绿化。"}, "物业费用于小区保洁、安保和绿化。"),
    ("help", {}, "回复缴费日期"),
    ("opt_in_confirmed", {}, "您已恢复接收物业服务通知"),
], ids=["ask-date", "faq-answer", "help", "opt-in"])
def test_each_kind_has_its_own_wording(world_at, kind, context, expected):
    world = world_at(at(DAY, "11:30"))
    ask(world, kind=kind, **context)

    prompt(world)

    [text] = texts_to(world)
    assert expected in text and text.endswith("回复TD退订")


def test_an_email_answer_has_text_html_and_a_reply_to_that_finds_the_owner(world_at):
    world = world_at(at(DAY, "11:30"))
    nid = ask(world, kind="ask_date", channel="email", address="Owner-1@Example.com", locale="en")

    prompt(world)

    [mail] = world.sendgrid.requests
    assert mail["personalizations"][0]["to"][0]["email"] == "owner-1@example.com"
    assert mail["subject"] == "Which day will you pay?"
    content = {c["type"]: c["value"] for c in mail["content"]}
    assert "Which day will you be able to pay?" in content["text/plain"] and "<p>" in content["text/html"]
    assert read_reply_address(SECRET, mail["reply_to"]["email"]).owner_id == "owner-1"
    assert row(world, nid)["status"] == "sent"


def test_the_same_reply_asked_twice_is_answered_once(world_at):
    world = world_at(at(DAY, "11:30"))
    reply_id = str(uuid.uuid4())
    ask(world, reply_id=reply_id)
    ask(world, reply_id=reply_id)  # republished: a new envelope, the same (reply, kind)

    prompt(world)
    prompt(world)

    assert len(texts_to(world)) == 1


def test_an_answer_the_ledger_has_sent_is_never_sent_again(world_at):
    world = world_at(at(DAY, "11:30"))
    nid = ask(world)
    prompt(world)
    with world.engine.begin() as connection:  # as if the worker died before recording the outcome
        connection.execute(update(auto_replies).where(auto_replies.c.notification_id == nid).values(status="queued"))

    prompt(world)

    assert len(texts_to(world)) == 1
    assert (row(world, nid)["status"], row(world, nid)["reason"]) == ("sent", "already handled by the send ledger")


def test_in_quiet_hours_an_answer_waits_for_them_to_end_with_the_reason(world_at):
    world = world_at(at(DAY, "22:10"))
    nid = ask(world)

    prompt(world)
    waiting = row(world, nid)
    world.now = at(DAY + timedelta(days=1), "07:59")
    prompt(world)
    before_the_end = texts_to(world)
    world.now = at(DAY + timedelta(days=1), "08:00")
    prompt(world)

    assert waiting["status"] == "deferred" and waiting["reason"].startswith("quiet hours until 08:00")
    assert before_the_end == [] and len(texts_to(world)) == 1
    assert row(world, nid)["status"] == "sent"


def test_an_answer_over_the_owners_cap_is_deferred_and_expires_rather_than_going_out_late(world_at):
    world = world_at(at(DAY, "09:00"))
    for slot in range(2):  # the day's two reminders by SMS
        world.request(slot=slot, channels=["sms"])
    world.run_until(at(DAY, "14:30"))
    assert len(texts_to(world)) == 2
    nid = ask(world)

    prompt(world)

    answer = row(world, nid)
    assert answer["status"] == "expired" and "sms cap of 2 a day reached" in answer["reason"]
    assert len(texts_to(world)) == 2


def test_an_answer_that_could_not_go_out_within_its_lifetime_expires(world_at):
    world = world_at(at(DAY, "11:30"))
    nid = ask(world)
    world.now = at(DAY + timedelta(days=1), "00:30")  # the worker was down until past midnight

    prompt(world)

    assert row(world, nid)["status"] == "expired" and texts_to(world) == []


def test_a_sent_answer_counts_against_the_reminders_caps(world_at):
    world = world_at(at(DAY, "09:00"))
    ask(world)
    ask(world, kind="help")
    prompt(world)
    assert len(texts_to(world)) == 2
    reminder = world.request(channels=["sms"])

    world.run_until(at(DAY, "11:00"))

    assert world.row(reminder, "sms")["status"] == "deferred"
    assert "sms cap of 2 a day reached" in world.row(reminder, "sms")["reason"]


def test_without_an_owner_the_caps_count_against_the_address(world_at):
    world = world_at(at(DAY, "11:30"))
    stranger = "+8613900000001"
    answers = [ask(world, kind="help", address=stranger, owner=None) for _ in range(3)]

    prompt(world)

    rows = sorted((row(world, n) for n in answers), key=lambda r: r["status"])
    assert [r["status"] for r in rows] == ["expired", "sent", "sent"]
    assert "sms cap of 2 a day" in rows[0]["reason"]
    assert len(texts_to(world, stranger)) == 2


def test_an_opted_out_number_gets_only_one_confirmation_per_opt_out(world_at):
    world = world_at(at(DAY, "11:30"))
    world.deliver("suppression.changed", {"channel": "sms", "address": PHONE, "opted_out": True, "source": "reply"})
    confirmed = ask(world, kind="opt_out_confirmed")
    again = ask(world, kind="opt_out_confirmed")  # a second STOP
    question = ask(world, kind="ask_date")
    prompt(world)

    world.now += timedelta(minutes=5)
    world.deliver("suppression.changed", {"channel": "sms", "address": PHONE, "opted_out": False, "source": "reply"})
    world.now += timedelta(minutes=5)
    world.deliver("suppression.changed", {"channel": "sms", "address": PHONE, "opted_out": True, "source": "reply"})
    next_time = ask(world, kind="opt_out_confirmed")
    prompt(world)

    assert row(world, confirmed)["status"] == "sent" and row(world, next_time)["status"] == "sent"
    assert (row(world, again)["status"], row(world, again)["reason"]) == \
        ("skipped", "this opt-out was confirmed already")
    assert (row(world, question)["status"], row(world, question)["reason"]) == \
        ("skipped", "suppressed: opted out of sms (reply)")
    texts = texts_to(world)
    assert len(texts) == 2 and all("您已退订短信通知" in t and "回复TD退订" not in t for t in texts)


def test_an_opt_in_is_confirmed_even_if_its_suppression_change_has_not_arrived_yet(world_at):
    world = world_at(at(DAY, "11:00"))
    world.deliver("suppression.changed", {"channel": "sms", "address": PHONE, "opted_out": True, "source": "reply"})
    world.now += timedelta(minutes=30)
    nid = ask(world, kind="opt_in_confirmed")

    prompt(world)

    assert row(world, nid)["status"] == "sent" and len(texts_to(world)) == 1


def test_twilio_21610_on_an_answer_suppresses_the_number(world_at):
    world = world_at(at(DAY, "11:30"))
    world.twilio.script(Reply.error(400, code=21610))
    nid = ask(world)
    prompt(world)
    later = ask(world, kind="help")

    prompt(world)

    assert (row(world, nid)["status"], row(world, nid)["reason"]) == ("failed", "provider refused (21610)")
    assert row(world, later)["status"] == "skipped"


def test_a_provider_that_is_down_defers_the_answer_and_it_goes_when_it_is_back(world_at):
    world = world_at(at(DAY, "11:30"))
    world.twilio.script(Reply.error(429))
    nid = ask(world)

    prompt(world)
    deferred = row(world, nid)
    world.now += timedelta(minutes=10)
    prompt(world)

    assert deferred["status"] == "deferred" and deferred["reason"].startswith("provider unavailable")
    assert row(world, nid)["status"] == "sent" and len(world.twilio.messages) == 1


def test_an_answer_whose_outcome_is_unknown_is_not_resent_and_a_delivery_report_settles_it(world_at):
    world = world_at(at(DAY, "11:30"))
    world.twilio.script(Reply.error(500))
    nid = ask(world)
    prompt(world)
    unknown = row(world, nid)

    world.now += timedelta(hours=1)
    prompt(world)
    world.deliver("delivery.reported", {
        "provider": "twilio", "channel": "sms", "provider_message_id": "SM" + "0" * 32, "notification_id": nid,
        "address": PHONE, "status": "delivered", "error_code": None, "reported_at": world.now})

    assert unknown["status"] == "unknown" and len(world.twilio.requests) == 1
    assert row(world, nid)["status"] == "sent"


def test_a_faq_answer_without_an_answer_is_skipped_with_the_reason(world_at):
    world = world_at(at(DAY, "11:30"))
    nid = ask(world, kind="faq_answer", answer="  ")

    prompt(world)

    assert (row(world, nid)["status"], texts_to(world)) == ("skipped", [])


def test_the_owners_outbox_shows_answers_sent_and_expired(world_at, tmp_path, monkeypatch):
    world = world_at(at(DAY, "11:30"))
    sent = ask(world)
    prompt(world)
    expired = ask(world, kind="help")
    world.now = at(DAY + timedelta(days=1), "09:00")
    prompt(world)
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), SECRET_KEY="outbox-secret")
    with root_logging_kept():
        app = create_app({"DATABASE_URL": world.engine.url.render_as_string(hide_password=False)})
    token = issue_token("outbox-secret", "c-1", "collector", [COMMUNITY])

    shown = app.test_client().get("/api/v1/owners/owner-1/outbox", headers={"Authorization": f"Bearer {token}"}).json

    items = {i["notification_id"]: i for i in shown["items"]}
    assert (items[sent]["status"], items[sent]["template"], items[sent]["provider"]) == ("sent", "promise_ack", "twilio")
    assert (items[expired]["status"], items[expired]["template"]) == ("expired", "help")
    app.extensions["notifier.db"].dispose()


def test_a_burst_of_answers_goes_out_in_one_pass_not_a_batch_per_poll(world_at):
    world = world_at(at(DAY, "11:30"))
    for n in range(120):  # more than one batch
        ask(world, kind="opt_out_confirmed", address=f"+86139{n:08d}", owner=None)

    outcomes = prompt(world)

    assert outcomes["sent"] == 120 and len(world.twilio.messages) == 120


def test_nothing_personal_reaches_the_logs(world_at, caplog):
    world = world_at(at(DAY, "11:30"))
    caplog.set_level(logging.DEBUG)
    ask(world, kind="faq_answer", answer="请拨打13800138000咨询")
    ask(world, kind="ask_date", channel="email", address="wang.fang@example.com")

    prompt(world)

    ours = [r for r in caplog.records if r.name.startswith(("services.", "shared."))]
    assert ours  # the sends were logged
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert PHONE not in logged and "wang.fang@example.com" not in logged and "13800138000" not in logged


def test_the_lifetime_is_read_from_the_environment():
    assert expires_after({}) == timedelta(hours=12)
    assert expires_after({"AUTOREPLY_EXPIRES_HOURS": "2"}) == timedelta(hours=2)
    with pytest.raises(ConfigError, match="AUTOREPLY_EXPIRES_HOURS"):
        expires_after({"AUTOREPLY_EXPIRES_HOURS": "0"})
