"""Provider failures sorted three ways: refused, unavailable (nothing sent), outcome unknown."""
from __future__ import annotations

import socket
import threading
import uuid

import pytest

from services.notifier.providers import (
    Email,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    SendGridEmail,
    Sms,
    TwilioSms,
)
from shared.config import Settings
from tests.fakes.replies import Reply
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio

TIMEOUT = "0.3"
OWNER_PHONE = "+8613800138001"
FEE_SMS = Sms(OWNER_PHONE, "物业服务费尚欠2860.00元。回复TD退订", None)


def fee_email(notification_id: str | None = None) -> Email:
    return Email("wang.fang@example.com", "物业服务费缴费提醒", "您的物业服务费尚欠2860.00元。",
                 notification_id or str(uuid.uuid4()))


def twilio_sms(base_url: str, account_sid: str = "AC" + "0" * 32, auth_token: str = "token") -> TwilioSms:
    return TwilioSms(Settings.from_env({
        "SMS_PROVIDER": "twilio", "TWILIO_API_BASE_URL": base_url, "TWILIO_ACCOUNT_SID": account_sid,
        "TWILIO_AUTH_TOKEN": auth_token, "PROVIDER_TIMEOUT_SECONDS": TIMEOUT,
    }))


def sendgrid_email(host: str, api_key: str = "SG.key") -> SendGridEmail:
    return SendGridEmail(Settings.from_env({
        "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_HOST": host, "SENDGRID_API_KEY": api_key,
        "PROVIDER_TIMEOUT_SECONDS": TIMEOUT,
    }))


@pytest.fixture
def twilio():
    with FakeTwilio(callback_delay=0.01) as fake:
        yield fake


@pytest.fixture
def sms(twilio) -> TwilioSms:
    return twilio_sms(twilio.url, twilio.account_sid, twilio.auth_token)


@pytest.fixture
def sendgrid():
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def email(sendgrid) -> SendGridEmail:
    return sendgrid_email(sendgrid.url, sendgrid.api_key)


@pytest.fixture
def closed_port_url():
    """A local URL where connections are refused: the port is bound but nobody listens."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


class HangUp:
    """Reads one whole HTTP request, then closes the connection without answering."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(2)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve_one, daemon=True)
        self.thread.start()

    def _serve_one(self) -> None:
        try:
            connection, _ = self.server.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(2)
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(body) < length:
                body += connection.recv(65536)
            self.requests.append(body)

    def close(self) -> None:
        self.thread.join(timeout=3)
        self.server.close()


def failure_of(send) -> Exception | None:
    try:
        send()
    except Exception as exc:
        return exc
    return None


@pytest.fixture
def hang_up():
    server = HangUp()
    yield server
    server.close()


# --- Twilio ------------------------------------------------------------------------------------

def test_an_accepted_sms_returns_twilios_message_sid(twilio, sms):
    sid = sms.send(FEE_SMS)

    assert list(twilio.messages) == [sid] and sid.startswith("SM")
    assert twilio.requests[0]["To"] == OWNER_PHONE and twilio.requests[0]["Body"] == FEE_SMS.body


def test_the_status_callback_url_travels_with_the_sms(twilio, sms):
    twilio.callbacks_enabled = False

    sms.send(Sms(OWNER_PHONE, "hi", "http://gw.test/webhooks/twilio/status?n=42"))

    assert twilio.requests[0]["StatusCallback"] == "http://gw.test/webhooks/twilio/status?n=42"


def test_a_messaging_service_sender_is_sent_as_a_service_sid(twilio):
    service = "MG" + "3" * 32
    sms = TwilioSms(Settings.from_env({
        "TWILIO_API_BASE_URL": twilio.url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_FROM": service,
    }))

    sms.send(FEE_SMS)

    assert twilio.requests[0]["MessagingServiceSid"] == service and "From" not in twilio.requests[0]


@pytest.mark.parametrize("reply, error, code", [
    (Reply.error(400, code=21211), ProviderRefused, "21211"),
    (Reply.error(400, code=21610), ProviderRefused, "21610"),
    (Reply.error(429, code=20429), ProviderUnavailable, "20429"),
    (Reply.error(500, code=20500), OutcomeUnknown, "20500"),
    (Reply.error(503, code=20503), OutcomeUnknown, "20503"),
], ids=["invalid-number", "unsubscribed", "throttled", "server-error", "unavailable"])
def test_each_twilio_error_is_sorted_with_its_code(twilio, sms, reply, error, code):
    twilio.script(reply)

    with pytest.raises(error) as raised:
        sms.send(FEE_SMS)

    assert type(raised.value) is error and raised.value.code == code


def test_a_500_after_twilio_accepted_the_sms_is_an_unknown_outcome(twilio, sms):
    twilio.script(Reply.accepted_then_error(500))

    with pytest.raises(OutcomeUnknown):
        sms.send(FEE_SMS)

    assert len(twilio.messages) == 1  # it was sent: repeating it would text the owner twice


def test_a_twilio_answer_slower_than_the_timeout_is_an_unknown_outcome(twilio, sms):
    twilio.script(Reply.slow(2))

    with pytest.raises(OutcomeUnknown):
        sms.send(FEE_SMS)


def test_wrong_twilio_credentials_leave_the_sms_unsent_and_retryable(twilio):
    sms = twilio_sms(twilio.url, twilio.account_sid, "not-the-token")

    with pytest.raises(ProviderUnavailable):
        sms.send(FEE_SMS)

    assert twilio.messages == {}


def test_twilio_refusing_connections_is_unavailable(closed_port_url):
    with pytest.raises(ProviderUnavailable):
        twilio_sms(closed_port_url).send(FEE_SMS)


def test_twilio_hanging_up_after_reading_the_request_is_an_unknown_outcome(hang_up):
    outcome = failure_of(lambda: twilio_sms(hang_up.url).send(FEE_SMS))

    assert len(hang_up.requests) == 1
    assert isinstance(outcome, OutcomeUnknown), f"sorted as {type(outcome).__name__}"


# --- SendGrid ----------------------------------------------------------------------------------

def test_an_accepted_email_returns_sendgrids_message_id_and_carries_the_notification_id(sendgrid, email):
    notification_id = str(uuid.uuid4())

    message_id = email.send(fee_email(notification_id))

    [(accepted_id, body)] = sendgrid.accepted
    assert message_id == accepted_id and len(message_id) == 22
    assert body["custom_args"]["notification_id"] == notification_id
    assert body["personalizations"][0]["to"] == [{"email": "wang.fang@example.com"}]


@pytest.mark.parametrize("reply, error, code", [
    (Reply.error(400), ProviderRefused, "400"),
    (Reply.error(429), ProviderUnavailable, "429"),
    (Reply.error(500), OutcomeUnknown, "500"),
    (Reply.error(503), OutcomeUnknown, "503"),
], ids=["bad-request", "throttled", "server-error", "unavailable"])
def test_each_sendgrid_error_is_sorted_with_its_status(sendgrid, email, reply, error, code):
    sendgrid.script(reply)

    with pytest.raises(error) as raised:
        email.send(fee_email())

    assert type(raised.value) is error and raised.value.code == code


def test_a_sendgrid_answer_slower_than_the_timeout_is_an_unknown_outcome(sendgrid, email):
    sendgrid.script(Reply.slow(2))

    with pytest.raises(OutcomeUnknown):
        email.send(fee_email())


def test_a_wrong_sendgrid_key_leaves_the_email_unsent_and_retryable(sendgrid):
    with pytest.raises(ProviderUnavailable) as raised:
        sendgrid_email(sendgrid.url, "SG.wrong").send(fee_email())

    assert raised.value.code == "401" and sendgrid.accepted == []


def test_sendgrid_refusing_connections_is_unavailable(closed_port_url):
    with pytest.raises(ProviderUnavailable):
        sendgrid_email(closed_port_url).send(fee_email())


def test_sendgrid_hanging_up_after_reading_the_request_is_an_unknown_outcome(hang_up):
    outcome = failure_of(lambda: sendgrid_email(hang_up.url).send(fee_email()))

    assert len(hang_up.requests) == 1
    assert isinstance(outcome, OutcomeUnknown), f"sorted as {type(outcome).__name__}"
