"""The fake Twilio and SendGrid servers, driven by the official client libraries."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import URLError
from urllib.parse import parse_qsl

import pytest
import requests
from python_http_client.exceptions import (
    BadRequestsError,
    HTTPError,
    InternalServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.replies import Reply
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio, sign_and_post

OWNER_PHONE = "+8613812345678"
OUR_NUMBER = "+15005550006"


def wait_until(condition, timeout: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


class Receiver:
    """A tiny webhook endpoint that records each POST (full url, form params, headers)."""

    def __init__(self):
        self.hits: list[tuple[str, dict, dict]] = []
        self.statuses: list[int] = []  # answers for the next hits; 200 once these run out
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
                receiver.hits.append((url, dict(parse_qsl(body, keep_blank_values=True)), dict(self.headers)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def signature_is_valid(self, hit, auth_token: str) -> bool:
        url, params, headers = hit
        return RequestValidator(auth_token).validate(url, params, headers["X-Twilio-Signature"])


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def twilio():
    with FakeTwilio(callback_delay=0.01) as fake:
        yield fake


def twilio_client(fake: FakeTwilio, **kwargs) -> Client:
    client = Client(fake.account_sid, fake.auth_token, **kwargs)
    client.api.base_url = fake.url
    return client


def send_sms(fake: FakeTwilio, **kwargs):
    client = kwargs.pop("client", None) or twilio_client(fake)
    return client.messages.create(to=OWNER_PHONE, from_=OUR_NUMBER, body="Your fee is due", **kwargs)


# --- Twilio ------------------------------------------------------------------------------------

def test_a_created_message_comes_back_queued_with_its_sid_and_is_recorded(twilio):
    message = send_sms(twilio)

    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued" and message.to == OWNER_PHONE and message.from_ == OUR_NUMBER
    assert message.date_created is not None and message.error_code is None
    assert twilio.requests == [{"To": OWNER_PHONE, "From": OUR_NUMBER, "Body": "Your fee is due"}]
    assert list(twilio.messages) == [message.sid]


def test_a_wrong_auth_token_is_refused_with_twilio_error_20003(twilio):
    client = Client(twilio.account_sid, "not-the-token")
    client.api.base_url = twilio.url

    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=OWNER_PHONE, from_=OUR_NUMBER, body="x")

    assert (raised.value.status, raised.value.code) == (401, 20003)


@pytest.mark.parametrize("status, code", [(400, 21211), (400, 21610), (429, 20429), (500, 20500)])
def test_each_scripted_error_surfaces_as_twilio_rest_exception_with_its_status_and_code(twilio, status, code):
    twilio.script(Reply.error(status, code=code))

    with pytest.raises(TwilioRestException) as raised:
        send_sms(twilio)

    assert (raised.value.status, raised.value.code) == (status, code)
    assert len(twilio.requests) == 1 and twilio.messages == {}


def test_scripted_replies_are_used_in_order_and_then_calls_succeed_again(twilio):
    twilio.script(Reply.error(429), Reply.error(500))
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(send_sms(twilio).status)
        except TwilioRestException as error:
            outcomes.append(error.status)

    assert outcomes == [429, 500, "queued"]


def test_a_missing_body_is_rejected_like_twilio_does(twilio):
    with pytest.raises(TwilioRestException) as raised:
        twilio_client(twilio).messages.create(to=OWNER_PHONE, from_=OUR_NUMBER)

    assert (raised.value.status, raised.value.code) == (400, 21602)


def test_a_slow_reply_makes_a_client_with_a_short_timeout_give_up(twilio):
    twilio.script(Reply.slow(2))
    client = twilio_client(twilio, http_client=TwilioHttpClient(timeout=0.2))

    with pytest.raises(requests.exceptions.Timeout):
        send_sms(twilio, client=client)


def test_an_accepted_then_error_reply_fails_the_call_but_the_message_exists_and_is_delivered(twilio):
    twilio.script(Reply.accepted_then_error(500))

    with pytest.raises(TwilioRestException) as raised:
        send_sms(twilio)

    assert raised.value.status == 500
    [sid] = twilio.messages
    wait_until(lambda: twilio_client(twilio).messages(sid).fetch().status == "delivered")


def test_status_callbacks_arrive_signed_in_order_sent_then_delivered(twilio, receiver):
    callback_url = f"{receiver.url}/twilio/status?notice=n-42&try=1"

    message = send_sms(twilio, status_callback=callback_url)

    wait_until(lambda: len(twilio.callbacks) == 2)
    assert [hit[1]["MessageStatus"] for hit in receiver.hits] == ["sent", "delivered"]
    for url, params, _headers in receiver.hits:
        assert url == callback_url
        assert params["MessageSid"] == params["SmsSid"] == message.sid
        assert params["AccountSid"] == twilio.account_sid and params["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in params
    assert all(receiver.signature_is_valid(hit, twilio.auth_token) for hit in receiver.hits)
    tokens = {hit[2]["I-Twilio-Idempotency-Token"] for hit in receiver.hits}
    assert len(tokens) == 2
    assert [status for _, _, status in twilio.callbacks] == [200, 200]


def test_an_undelivered_message_reports_its_error_code_in_the_callback_and_the_lookup(twilio, receiver):
    twilio.final_status, twilio.final_error_code = "undelivered", 30005

    message = send_sms(twilio, status_callback=f"{receiver.url}/status")

    wait_until(lambda: len(twilio.callbacks) == 2)
    assert [(p["MessageStatus"], p.get("ErrorCode")) for _, p, _ in receiver.hits] == [
        ("sent", None), ("undelivered", "30005")]
    fetched = twilio_client(twilio).messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30005)


def test_a_failing_callback_receiver_is_retried_with_the_same_idempotency_token(twilio, receiver):
    receiver.statuses = [503]
    twilio.final_status = "sent"

    send_sms(twilio, status_callback=f"{receiver.url}/status")

    wait_until(lambda: len(twilio.callbacks) == 1)
    assert len(receiver.hits) == 2
    assert receiver.hits[0][2]["I-Twilio-Idempotency-Token"] == receiver.hits[1][2]["I-Twilio-Idempotency-Token"]
    assert twilio.callbacks[0][2] == 200


def test_a_callback_to_an_unreachable_receiver_is_given_up_after_a_few_attempts(twilio):
    twilio.final_status = "sent"
    with socket.socket() as bound_but_not_listening:  # connections to it are refused
        bound_but_not_listening.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{bound_but_not_listening.getsockname()[1]}/status"

        send_sms(twilio, status_callback=unreachable)

        wait_until(lambda: len(twilio.callbacks) == 1)
    [(url, _, http_status)] = twilio.callbacks
    assert (url, http_status) == (unreachable, None)


def test_a_messaging_service_message_is_accepted_and_a_sender_is_picked_when_sent(twilio):
    client = twilio_client(twilio)
    message = client.messages.create(to=OWNER_PHONE, messaging_service_sid="MG" + "1" * 32, body="Hi")

    assert (message.status, message.from_) == ("accepted", None)
    wait_until(lambda: client.messages(message.sid).fetch().status == "delivered")
    assert client.messages(message.sid).fetch().from_


def test_the_lookup_returns_the_final_status_and_404_for_an_unknown_sid(twilio):
    client = twilio_client(twilio)
    sid = send_sms(twilio).sid

    wait_until(lambda: client.messages(sid).fetch().status == "delivered")
    assert client.messages(sid).fetch().date_sent is not None
    with pytest.raises(TwilioRestException) as raised:
        client.messages("SM" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_switched_off_callbacks_are_not_sent_but_the_message_still_progresses(twilio, receiver):
    twilio.callbacks_enabled = False

    sid = send_sms(twilio, status_callback=f"{receiver.url}/status").sid

    wait_until(lambda: twilio.messages[sid]["status"] == "delivered")
    assert receiver.hits == [] and twilio.callbacks == []


def test_latency_is_added_to_every_create_reply():
    with FakeTwilio(latency=0.05) as fake:
        started = time.monotonic()
        send_sms(fake)
        assert time.monotonic() - started >= 0.05


def test_the_inbound_sms_helper_posts_twilio_params_with_a_valid_signature(twilio, receiver):
    url = f"{receiver.url}/twilio/inbound?tenant=7"

    response = twilio.post_inbound_sms(url, from_=OWNER_PHONE, to=OUR_NUMBER, body="STOP")

    assert response.status_code == 200
    [hit] = receiver.hits
    params = hit[1]
    assert params["Body"] == "STOP" and params["From"] == OWNER_PHONE and params["FromCountry"] == "CN"
    assert params["MessageSid"].startswith("SM") and params["NumMedia"] == "0"
    assert receiver.signature_is_valid(hit, twilio.auth_token)
    assert not receiver.signature_is_valid(hit, "another-token")


def test_sign_and_post_signs_arbitrary_params(receiver):
    sign_and_post(f"{receiver.url}/hook", {"A": "1", "B": "two"}, "secret")

    assert receiver.signature_is_valid(receiver.hits[0], "secret")


# --- SendGrid ----------------------------------------------------------------------------------

@pytest.fixture
def sendgrid():
    with FakeSendGrid() as fake:
        yield fake


def fee_notice() -> Mail:
    return Mail(from_email="billing@example.com", to_emails="owner@example.com",
                subject="Property fee due", plain_text_content="Please pay by Friday.")


def test_an_email_is_accepted_with_202_and_a_message_id(sendgrid):
    response = SendGridAPIClient(sendgrid.api_key, host=sendgrid.url).send(fee_notice())

    assert response.status_code == 202 and response.body == b""
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22
    assert sendgrid.accepted == [(message_id, fee_notice().get())]
    assert sendgrid.requests == [fee_notice().get()]


def test_a_wrong_api_key_is_refused_with_401(sendgrid):
    with pytest.raises(UnauthorizedError) as raised:
        SendGridAPIClient("SG.wrong", host=sendgrid.url).send(fee_notice())

    assert raised.value.status_code == 401
    assert raised.value.to_dict["errors"][0]["message"]


def test_an_incomplete_body_is_rejected_with_400_naming_each_field(sendgrid):
    incomplete = {"personalizations": [{"to": []}], "from": {"email": "not-an-address"}, "subject": "x"}

    with pytest.raises(BadRequestsError) as raised:
        SendGridAPIClient(sendgrid.api_key, host=sendgrid.url).send(incomplete)

    fields = [error["field"] for error in raised.value.to_dict["errors"]]
    assert fields == ["personalizations.0.to", "from.email", "content"]
    assert sendgrid.accepted == [] and sendgrid.requests == [incomplete]


@pytest.mark.parametrize("status, error_class", [
    (400, BadRequestsError), (429, TooManyRequestsError), (500, InternalServerError)])
def test_each_scripted_error_surfaces_as_the_matching_http_error(sendgrid, status, error_class):
    sendgrid.script(Reply.error(status))

    with pytest.raises(error_class) as raised:
        SendGridAPIClient(sendgrid.api_key, host=sendgrid.url).send(fee_notice())

    assert isinstance(raised.value, HTTPError) and raised.value.status_code == status
    assert sendgrid.accepted == []


def test_a_slow_reply_makes_a_sendgrid_client_with_a_short_timeout_give_up(sendgrid):
    sendgrid.script(Reply.slow(2))
    client = SendGridAPIClient(sendgrid.api_key, host=sendgrid.url)
    client.client.timeout = 0.2  # python_http_client passes this to urllib

    with pytest.raises((TimeoutError, URLError)):
        client.send(fee_notice())


def test_an_accepted_then_error_email_fails_the_call_but_is_recorded_as_accepted(sendgrid):
    sendgrid.script(Reply.accepted_then_error(500))

    with pytest.raises(InternalServerError):
        SendGridAPIClient(sendgrid.api_key, host=sendgrid.url).send(fee_notice())

    assert len(sendgrid.accepted) == 1
