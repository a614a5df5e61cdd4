"""The send ledger: each (notification, channel) reaches a provider at most once."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.notifier import ledger
from services.notifier.providers import ProviderUnavailable, SendGridEmail, TwilioSms
from services.notifier.sending import ReminderSender
from services.notifier.tables import outbox, send_ledger
from shared.config import Settings
from shared.db import make_engine
from shared.envelope import Envelope, decode, new_event
from tests.fakes.replies import Reply
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio
from tests.unit.sqlite_services import migrated_database

OWNER_PHONE = "+8613800138001"
OWNER_EMAIL = "wang.fang@example.com"


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(migrated_database(tmp_path, "notifier"))
    yield engine
    engine.dispose()


@pytest.fixture
def twilio():
    with FakeTwilio(callback_delay=0.01) as fake:
        fake.callbacks_enabled = False  # the callback URL points at a gateway that is not running
        yield fake


@pytest.fixture
def sendgrid():
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def send(engine, twilio, sendgrid, tmp_path) -> ReminderSender:
    settings = Settings.from_env({
        "DATA_DIR": str(tmp_path), "SMS_PROVIDER": "twilio", "EMAIL_PROVIDER": "sendgrid",
        "TWILIO_API_BASE_URL": twilio.url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token, "SENDGRID_API_HOST": sendgrid.url,
        "SENDGRID_API_KEY": sendgrid.api_key, "PROVIDER_TIMEOUT_SECONDS": "0.3",
    })
    return ReminderSender(engine, TwilioSms(settings), SendGridEmail(settings), "http://gw.test")


def reminder(channels=("sms", "email"), locale: str = "zh-CN") -> Envelope:
    """A reminder request as the consumer hands it over: decoded from the wire."""
    event = new_event("reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": "case-1", "stage": "reminder",
        "channels": list(channels), "template": "reminder",
        "recipient": {"owner_id": "owner-1", "name": "王芳", "phone": OWNER_PHONE, "email": OWNER_EMAIL,
                      "locale": locale},
        "context": {"amount_owed": "2860.00", "community": "lakeside-garden"},
    })
    return decode(event.to_json())


def notification_of(event: Envelope) -> str:
    return str(event.payload["notification_id"])


def ledger_rows(engine) -> dict[str, dict]:
    with engine.connect() as connection:
        rows = connection.execute(select(send_ledger)).mappings().all()
    return {row["channel"]: dict(row) for row in rows}


def outbox_events(engine) -> list[Envelope]:
    with engine.connect() as connection:
        bodies = connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
    return [decode(body) for body in bodies]


def test_a_reminder_sends_each_channel_once_and_reports_each_as_sent(engine, twilio, sendgrid, send):
    event = reminder()

    send(event)

    [sid] = twilio.messages
    [(email_id, mail)] = sendgrid.accepted
    rows = ledger_rows(engine)
    assert (rows["sms"]["status"], rows["sms"]["provider_message_id"]) == ("sent", sid)
    assert (rows["email"]["status"], rows["email"]["provider_message_id"]) == ("sent", email_id)
    sent = {e.payload["channel"]: e for e in outbox_events(engine)}
    assert set(sent) == {"sms", "email"} and {e.type for e in sent.values()} == {"message.sent"}
    assert sent["sms"].payload["provider_message_id"] == sid
    assert sent["email"].payload["provider_message_id"] == email_id
    assert {str(e.payload["notification_id"]) for e in sent.values()} == {notification_of(event)}
    assert mail["custom_args"]["notification_id"] == notification_of(event)


def test_the_sms_goes_to_the_owner_in_their_language_with_a_callback_naming_the_notification(
        twilio, send):
    event = reminder(channels=["sms"], locale="en")

    send(event)

    [request] = twilio.requests
    assert request["To"] == OWNER_PHONE
    assert request["Body"].endswith("Reply STOP to opt out") and "2860.00" in request["Body"]
    assert request["StatusCallback"] == f"http://gw.test/webhooks/twilio/status?n={notification_of(event)}"


def test_the_same_reminder_delivered_again_calls_no_provider_a_second_time(engine, twilio, sendgrid, send):
    event = reminder()
    send(event)

    send(event)

    assert (len(twilio.requests), len(sendgrid.requests)) == (1, 1)
    assert len(outbox_events(engine)) == 2


def test_a_send_left_claimed_by_a_crash_is_marked_unknown_and_not_repeated(engine, twilio, send):
    event = reminder(channels=["sms"])
    with engine.begin() as connection:  # the claim committed, then the process died mid-call
        assert ledger.claim(connection, notification_of(event), "sms", "case-1", "owner-1").granted

    send(event)
    send(event)

    assert twilio.requests == []
    row = ledger_rows(engine)["sms"]
    assert (row["status"], row["error_code"]) == ("unknown", "interrupted")
    assert outbox_events(engine) == []


def test_a_throttled_sms_is_left_for_retry_and_sent_exactly_once_when_twilio_recovers(engine, twilio, send):
    event = reminder(channels=["sms"])
    twilio.script(Reply.error(429, code=20429))

    with pytest.raises(ProviderUnavailable):
        send(event)

    assert ledger_rows(engine)["sms"]["status"] == "retry"
    assert twilio.messages == {} and outbox_events(engine) == []

    send(event)

    [sid] = twilio.messages
    row = ledger_rows(engine)["sms"]
    assert (row["status"], row["provider_message_id"], row["attempts"]) == ("sent", sid, 2)
    assert [e.type for e in outbox_events(engine)] == ["message.sent"]
    assert len(twilio.requests) == 2


def test_a_throttled_sms_does_not_hold_back_the_email_nor_resend_it_on_retry(engine, twilio, sendgrid, send):
    event = reminder()
    twilio.script(Reply.error(429))

    with pytest.raises(ProviderUnavailable):
        send(event)
    send(event)

    assert len(sendgrid.requests) == 1 and len(twilio.messages) == 1
    assert {row["status"] for row in ledger_rows(engine).values()} == {"sent"}


@pytest.mark.parametrize("code", [21211, 21610], ids=["invalid-number", "unsubscribed"])
def test_a_refused_number_fails_the_send_for_good_and_reports_it(engine, twilio, send, code):
    event = reminder(channels=["sms"])
    twilio.script(Reply.error(400, code=code))

    send(event)
    send(event)

    row = ledger_rows(engine)["sms"]
    assert (row["status"], row["error_code"], row["provider"]) == ("failed", str(code), "twilio")
    [failed] = outbox_events(engine)
    assert failed.type == "message.failed"
    assert (failed.payload["error_code"], failed.payload["permanent"]) == (str(code), True)
    assert len(twilio.requests) == 1


@pytest.mark.parametrize("reply", [Reply.error(500), Reply.accepted_then_error(500), Reply.slow(2)],
                         ids=["server-error", "accepted-then-error", "timeout"])
def test_an_sms_with_an_unknown_outcome_is_never_sent_again(engine, twilio, send, reply):
    event = reminder(channels=["sms"])
    twilio.script(reply)

    send(event)
    send(event)

    assert ledger_rows(engine)["sms"]["status"] == "unknown"
    assert len(twilio.requests) == 1 and outbox_events(engine) == []


def test_a_throttled_email_is_left_for_retry(engine, sendgrid, send):
    event = reminder(channels=["email"])
    sendgrid.script(Reply.error(429))

    with pytest.raises(ProviderUnavailable):
        send(event)
    send(event)

    assert len(sendgrid.accepted) == 1 and ledger_rows(engine)["email"]["status"] == "sent"


def test_a_delivery_report_lands_on_its_ledger_row_by_notification_or_provider_id(engine, twilio, send):
    event = reminder(channels=["sms"])
    send(event)
    [sid] = twilio.messages

    with engine.begin() as connection:
        by_notification = ledger.record_delivery(connection, notification_of(event), sid, "sms", "sent", None)
        by_sid = ledger.record_delivery(connection, None, sid, "sms", "undelivered", "30003")
        unknown = ledger.record_delivery(connection, None, "SM" + "0" * 32, "sms", "delivered", None)

    row = ledger_rows(engine)["sms"]
    assert (by_notification, by_sid, unknown) == (1, 1, 0)
    assert (row["status"], row["delivery_status"], row["error_code"]) == ("sent", "undelivered", "30003")
