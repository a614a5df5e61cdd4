"""What the gateway answers an owner at once, stored with the reply it answers, and only once."""
from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.gateway.app import create_app
from services.gateway.directory import place_of
from services.gateway.faq.starter import STARTER_FAQ, load_starter_faq
from services.gateway.handlers import EVENT_HANDLERS
from services.gateway.tables import address_directory, inbox, outbox
from shared.dispatch import InboxDispatcher
from shared.envelope import decode, new_event
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

PUBLIC_URL = "http://gw.test"
AUTH_TOKEN = "gateway-twilio-token"
INBOUND = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"
OWNER = "+8613800138001"
# 2026-03-16 01:30 UTC: already Monday the 16th in Shanghai, still Sunday the 15th in Los Angeles.
RECEIVED = datetime(2026, 3, 16, 1, 30, tzinfo=UTC)


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path),
                    GATEWAY_PUBLIC_URL=PUBLIC_URL, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    with root_logging_kept():
        app = create_app({"GATEWAY_NOW": lambda: RECEIVED, "FAQ_MATCH_THRESHOLD": 0.5})
    load_starter_faq(app.extensions["gateway.db"])
    yield app
    app.extensions["gateway.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def text(client, body: str, sid: str | None = None, sender: str = OWNER, token: str | None = None):
    params = {"MessageSid": sid or "SM" + secrets.token_hex(16), "AccountSid": "AC" + "1" * 32,
              "From": sender, "To": "+15005550006", "Body": body, "NumMedia": "0"}
    headers = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + INBOUND, params)}
    if token:
        headers["I-Twilio-Idempotency-Token"] = token
    response = client.post(INBOUND, data=params, headers=headers)
    assert response.status_code == 200
    return params


def events(app):
    with app.extensions["gateway.db"].connect() as connection:
        return [decode(body) for body in connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars()]


def auto_replies(app) -> list[dict]:
    return [e.payload for e in events(app) if e.type == "autoreply.requested"]


def the_reply(app) -> dict:
    [reply] = [e.payload for e in events(app) if e.type == "owner.replied"]
    return reply


def deliver(app, type_: str, payload: dict) -> None:
    """Hand the gateway's consumer an event as it arrives from the bus."""
    InboxDispatcher(app.extensions["gateway.db"], inbox, EVENT_HANDLERS)(decode(new_event(type_, payload).to_json()))


def live_in(app, community: str, timezone: str, locale: str = "zh-CN", phone: str = OWNER) -> None:
    deliver(app, "community.configured", {
        "community": community, "timezone": timezone, "locale": locale, "send_windows": ["09:30"],
        "quiet_start": "21:00", "quiet_end": "08:00", "skip_weekends": False})
    deliver(app, "reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": "case-1", "community": community, "stage": "reminder",
        "channels": ["sms"], "recipient": {"owner_id": "owner-1", "name": "王芳", "phone": phone, "locale": locale},
        "template": "reminder"})


@pytest.mark.parametrize("body, kind", [
    pytest.param("过几天就交", "ask_date", id="vague-promise"),
    pytest.param("帮助", "help", id="help-zh"),
    pytest.param("HELP", "help", id="help-en"),
    pytest.param("退订", "opt_out_confirmed", id="opt-out-zh"),
    pytest.param("STOP", "opt_out_confirmed", id="opt-out-en"),
    pytest.param("START", "opt_in_confirmed", id="opt-in"),
])
def test_a_reply_that_calls_for_an_answer_gets_one_auto_reply_stored_with_it(app, client, body, kind):
    params = text(client, body)

    [answer] = auto_replies(app)
    assert answer["kind"] == kind
    assert (answer["channel"], answer["address"], answer["in_reply_to"]) == ("sms", OWNER, params["MessageSid"])
    assert answer["reply_id"] == uuid.uuid5(uuid.NAMESPACE_URL, f"owner-reply:{params['MessageSid']}")
    assert answer["locale"] == the_reply(app)["language"]


@pytest.mark.parametrize("body", ["下周五交", "我已经交了", "电梯坏了一个月没人修", "好的"])
def test_a_reply_that_needs_no_answer_from_the_gateway_gets_none(app, client, body):
    text(client, body)

    assert auto_replies(app) == []


def test_a_question_the_faq_answers_gets_that_answer_and_the_reply_names_the_entry(app, client):
    text(client, "请问物业费都包括哪些服务？")

    [answer] = auto_replies(app)
    reply = the_reply(app)
    assert answer["kind"] == "faq_answer" and answer["locale"] == "zh-CN"
    assert answer["context"]["answer"] == STARTER_FAQ[1]["answer_zh"]
    assert reply["intent"] == "question" and reply["faq_entry_id"] == answer["context"]["faq_entry_id"]


def test_an_english_question_is_answered_in_english(app, client):
    text(client, "What does the property fee cover?")

    [answer] = auto_replies(app)
    assert (answer["locale"], answer["context"]["answer"]) == ("en", STARTER_FAQ[1]["answer_en"])


def test_a_question_the_faq_does_not_answer_well_enough_is_left_for_staff(app, client):
    text(client, "明年物业费会涨价吗？")

    reply = the_reply(app)
    assert reply["intent"] == "question" and reply["faq_entry_id"] is None
    assert auto_replies(app) == []


def test_a_raised_threshold_sends_fewer_answers(app, client):
    app.config["FAQ_MATCH_THRESHOLD"] = 0.99

    text(client, "请问物业费包括哪些服务")

    assert the_reply(app)["faq_entry_id"] is None and auto_replies(app) == []


def test_the_same_reply_delivered_twice_is_answered_once(app, client):
    sid = "SM" + secrets.token_hex(16)

    text(client, "过几天就交", sid=sid)
    text(client, "过几天就交", sid=sid)

    assert [e.type for e in events(app)] == ["owner.replied", "autoreply.requested"]


def test_a_retry_with_the_same_idempotency_token_has_one_effect_even_if_other_details_differ(app, client):
    token = "idem-" + secrets.token_hex(8)

    text(client, "STOP", token=token)
    text(client, "过几天就交", token=token)  # another MessageSid and body: still the same delivery

    assert [e.type for e in events(app)] == ["owner.replied", "suppression.changed", "autoreply.requested"]
    assert the_reply(app)["body"] == "STOP"


def test_the_same_message_with_a_new_idempotency_token_is_still_one_message(app, client):
    sid = "SM" + secrets.token_hex(16)

    text(client, "过几天就交", sid=sid, token="first")
    text(client, "过几天就交", sid=sid, token="second")
    text(client, "帮助", token="second")  # the refused retry did not use up its token

    assert [e.payload["kind"] for e in events(app) if e.type == "autoreply.requested"] == ["ask_date", "help"]


def test_a_status_callback_retried_with_the_same_token_reports_once(app, client):
    sid = "SM" + secrets.token_hex(16)
    path = f"{STATUS}?n={uuid.uuid4()}"
    for status in ("sent", "delivered"):  # the retry differs, but carries the first call's token
        params = {"MessageSid": sid, "AccountSid": "AC" + "1" * 32, "MessageStatus": status}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
        response = client.post(path, data=params, headers={"X-Twilio-Signature": signature,
                                                            "I-Twilio-Idempotency-Token": "status-token"})
        assert response.status_code == 204

    assert [e.payload["status"] for e in events(app)] == ["sent"]


def test_a_reply_is_read_in_the_timezone_of_the_senders_community(app, client):
    live_in(app, "pacific-heights", "America/Los_Angeles", locale="en")

    text(client, "明天交")  # "tomorrow" where the owner is: Monday, not Tuesday as in Shanghai

    assert the_reply(app)["promised_date"] == date(2026, 3, 16)


def test_an_unknown_sender_is_read_in_the_default_timezone(app, client):
    live_in(app, "pacific-heights", "America/Los_Angeles")

    text(client, "明天交", sender="+8613900000000")

    assert the_reply(app)["promised_date"] == date(2026, 3, 17)


def test_the_auto_reply_names_the_senders_community(app, client):
    live_in(app, "lakeside-garden", "Asia/Shanghai")

    text(client, "过几天就交")

    assert auto_replies(app)[0]["community"] == "lakeside-garden"


def test_the_directory_keeps_no_address_in_clear(app):
    live_in(app, "lakeside-garden", "Asia/Shanghai")

    with app.extensions["gateway.db"].connect() as connection:
        rows = [tuple(row) for row in connection.execute(select(address_directory))]
    assert len(rows) == 1 and not any(OWNER in str(value) or OWNER[1:] in str(value) for value in rows[0])


def test_an_escalation_notice_also_teaches_the_directory_and_a_repeat_is_handled_once(app):
    notice = {"notification_id": str(uuid.uuid4()), "case_id": "case-1", "community": None, "stage": "notice",
              "channels": ["email"], "recipient": {"owner_id": "owner-1", "name": "Emily", "phone": None,
                                                   "email": "Emily.Chen@example.com", "locale": "en"},
              "template": "notice"}
    escalated = decode(new_event("case.escalated", {
        "case_id": "case-1", "owner_id": "owner-1", "community": "lakeside-garden", "from_stage": "reminder",
        "to_stage": "notice", "reason": "due", "entered_on": "2026-03-16", "notice": notice}).to_json())
    dispatcher = InboxDispatcher(app.extensions["gateway.db"], inbox, EVENT_HANDLERS)

    dispatcher(escalated)
    dispatcher(escalated)

    with app.extensions["gateway.db"].connect() as connection:
        place = place_of(connection, "email", "emily.chen@EXAMPLE.com")
    assert (place.community, place.locale) == ("lakeside-garden", "en")
    assert row_count(app.extensions["gateway.db"], inbox) == 1
