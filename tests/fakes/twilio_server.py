"""A local stand-in for Twilio's Messages API, for running the official `twilio` client offline.

    with FakeTwilio() as fake:
        client = Client(fake.account_sid, fake.auth_token)
        client.api.base_url = fake.url
        client.messages.create(to="+8613812345678", from_="+15005550006", body="Hi")

Accepted messages move queued -> sent -> delivered (or fake.final_status) in a background
thread, and each step is POSTed to the message's StatusCallback signed the way Twilio signs it.
"""
from __future__ import annotations

import base64
import math
import re
import secrets
import threading
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import requests
from twilio.request_validator import RequestValidator

from tests.fakes.replies import FakeHandler, Reply, ScriptedServer

__all__ = ["FakeTwilio", "Reply", "sign_and_post"]

API_VERSION = "2010-04-01"
_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json$")

# Status callbacks each message produces, by the status it ends in.
_STATUS_STEPS = {
    "delivered": ("sent", "delivered"),
    "undelivered": ("sent", "undelivered"),
    "failed": ("failed",),
    "sent": ("sent",),
}
_USUAL_ERROR_CODE = {"undelivered": 30003, "failed": 30008}

_CODE_FOR_STATUS = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
_MESSAGE_FOR_CODE = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    20503: "Service is unavailable. Please try again",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
}

# The number Twilio would pick from a Messaging Service's sender pool (a Twilio test number).
SERVICE_SENDER = "+15005550006"
_COUNTRY_BY_PREFIX = {"+86": "CN", "+44": "GB", "+1": "US"}

CALLBACK_ATTEMPTS = 3
CALLBACK_RETRY_DELAY = 0.05
CALLBACK_TIMEOUT = 2.0


def twilio_error(status: int, code: int | None = None, message: str | None = None) -> dict:
    code = code if code is not None else _CODE_FOR_STATUS.get(status)
    return {
        "code": code,
        "message": message or _MESSAGE_FOR_CODE.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }


def new_message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def count_segments(body: str) -> int:
    # Close enough for tests: plain ASCII is treated as GSM-7, anything else as UCS-2.
    if body.isascii():
        length, single, per_part = len(body), 160, 153
    else:
        length, single, per_part = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if length <= single else math.ceil(length / per_part)


def sign_and_post(url: str, params: dict[str, str], auth_token: str,
                  headers: dict[str, str] | None = None) -> requests.Response:
    """POST form params to url with the headers Twilio puts on its webhooks, signed with auth_token."""
    signed = {
        "X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, params),
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        "User-Agent": "TwilioProxy/1.1",
    }
    signed.update(headers or {})
    with requests.Session() as session:
        session.trust_env = False  # local receivers only; never route through an env proxy
        return session.post(url, data=params, headers=signed, timeout=CALLBACK_TIMEOUT)


def _now() -> str:
    return format_datetime(datetime.now(UTC))  # RFC 2822, as Twilio writes dates


def _country_of(number: str) -> str | None:
    return next((country for prefix, country in _COUNTRY_BY_PREFIX.items() if number.startswith(prefix)), None)


def _missing_field_error(params: dict) -> dict | None:
    if not params.get("To"):
        return twilio_error(400, 21604)
    if not (params.get("From") or params.get("MessagingServiceSid")):
        return twilio_error(400, 21603)
    if not (params.get("Body") or params.get("MediaUrl") or params.get("ContentSid")):
        return twilio_error(400, 21602)
    return None


class _TwilioHandler(FakeHandler):
    def do_POST(self) -> None:
        fake: FakeTwilio = self.server.fake
        route = self._route()
        if route is None:
            return
        if route["sid"]:  # updating (cancel, redact) a message is not faked
            return self._not_found()
        params = _parse_form(self.read_body())
        fake._record_request(params)
        reply = fake.next_reply()
        if reply.kind == "error":
            return self.answer(reply.status, twilio_error(reply.status, reply.code, reply.message))
        problem = _missing_field_error(params)
        if problem:
            return self.answer(400, problem)
        message = fake._accept(params)
        if reply.kind == "accepted_then_error":
            return self.answer(reply.status, twilio_error(reply.status, reply.code, reply.message))
        self.answer(201, message)

    def do_GET(self) -> None:
        fake: FakeTwilio = self.server.fake
        route = self._route()
        if route is None:
            return
        message = fake._message_copy(route["sid"]) if route["sid"] else None
        if message is None:
            return self._not_found()
        self.answer(200, message)

    def _route(self) -> dict | None:
        """Match the path and check credentials; answer the error and return None if either fails."""
        fake: FakeTwilio = self.server.fake
        if self.headers.get("Authorization") != fake._expected_authorization:
            self.answer(401, twilio_error(401))
            return None
        match = _MESSAGES_PATH.match(urlsplit(self.path).path)
        if match is None or match["account"] != fake.account_sid:
            self._not_found()
            return None
        return match.groupdict()

    def _not_found(self) -> None:
        path = urlsplit(self.path).path
        self.answer(404, twilio_error(404, message=f"The requested resource {path} was not found"))


def _parse_form(body: bytes) -> dict:
    # One value per name except repeated ones (MediaUrl can be given several times).
    fields = parse_qs(body.decode(), keep_blank_values=True)
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}


class FakeTwilio(ScriptedServer):
    handler_class = _TwilioHandler

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None,
                 latency: float = 0.0, callback_delay: float = 0.05):
        super().__init__(latency)
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.callback_delay = callback_delay
        self.final_status = "delivered"
        self.final_error_code: int | None = None
        self.callbacks_enabled = True
        self.requests: list[dict] = []
        self.messages: dict[str, dict] = {}
        self.callbacks: list[tuple[str, dict, int | None]] = []
        self._progress_threads: list[threading.Thread] = []

    @property
    def _expected_authorization(self) -> str:
        credentials = f"{self.account_sid}:{self.auth_token}".encode()
        return "Basic " + base64.b64encode(credentials).decode()

    def stop(self) -> None:
        super().stop()
        with self._lock:
            threads = list(self._progress_threads)
        # Progress threads wait on the stopping event, so they finish promptly.
        for thread in threads:
            thread.join(timeout=CALLBACK_TIMEOUT)

    def post_inbound_sms(self, url: str, from_: str, to: str, body: str,
                         message_sid: str | None = None) -> requests.Response:
        """Deliver an incoming SMS to a webhook the way Twilio does, signed with this account's token."""
        sid = message_sid or new_message_sid()
        params = {
            "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": self.account_sid,
            "From": from_, "To": to, "Body": body, "NumMedia": "0",
            "NumSegments": str(count_segments(body)), "SmsStatus": "received", "ApiVersion": API_VERSION,
        }
        # Twilio only fills location fields it knows; leave them out rather than send blanks.
        for field, number in (("FromCountry", from_), ("ToCountry", to)):
            if _country_of(number):
                params[field] = _country_of(number)
        return sign_and_post(url, params, self.auth_token)

    # --- called from the request handler -------------------------------------------------

    def _record_request(self, params: dict) -> None:
        with self._lock:
            self.requests.append(params)

    def _message_copy(self, sid: str) -> dict | None:
        with self._lock:
            message = self.messages.get(sid)
            return dict(message) if message else None

    def _accept(self, params: dict) -> dict:
        sid = new_message_sid()
        now = _now()
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        body = params.get("Body", "")
        via_service = bool(params.get("MessagingServiceSid")) and not params.get("From")
        message = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": params.get("From"),
            "messaging_service_sid": params.get("MessagingServiceSid"), "num_media": "0",
            "num_segments": str(count_segments(body)), "price": None, "price_unit": "USD", "sid": sid,
            # Twilio says "accepted" while a Messaging Service still has to pick the sender.
            "status": "accepted" if via_service else "queued",
            "subresource_uris": {"media": f"{path}/Media.json"}, "to": params["To"], "uri": f"{path}.json",
        }
        steps = _STATUS_STEPS[self.final_status]
        callback_url = params.get("StatusCallback") if self.callbacks_enabled else None
        thread = threading.Thread(target=self._progress, args=(sid, steps, callback_url),
                                  name=f"twilio-progress-{sid}", daemon=True)
        with self._lock:
            self.messages[sid] = message
            # Forget finished threads so long benchmark runs do not pile them up. Started under the
            # lock, so stop() never finds a thread it cannot join yet.
            self._progress_threads = [t for t in self._progress_threads if t.is_alive()] + [thread]
            thread.start()
        return dict(message)

    # --- background delivery ---------------------------------------------------------------

    def _progress(self, sid: str, steps: tuple[str, ...], callback_url: str | None) -> None:
        for status in steps:
            if self._stopping.wait(self.callback_delay):
                return
            params = self._advance(sid, status)
            if callback_url and self.callbacks_enabled:
                self._deliver_callback(callback_url, params)

    def _advance(self, sid: str, status: str) -> dict[str, str]:
        """Move the stored message to `status` and return the callback params for that step."""
        with self._lock:
            message = self.messages[sid]
            message["from"] = message["from"] or SERVICE_SENDER
            message["status"] = status
            message["date_updated"] = _now()
            if status == "sent":
                message["date_sent"] = message["date_updated"]
            params = {
                "MessageSid": sid, "SmsSid": sid, "AccountSid": self.account_sid,
                "From": message["from"], "To": message["to"],
                "MessageStatus": status, "SmsStatus": status, "ApiVersion": API_VERSION,
            }
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            if status in _USUAL_ERROR_CODE:
                message["error_code"] = self.final_error_code or _USUAL_ERROR_CODE[status]
                params["ErrorCode"] = str(message["error_code"])
        return params

    def _deliver_callback(self, url: str, params: dict[str, str]) -> None:
        # Retries of one callback carry the same idempotency token, so receivers can drop repeats.
        token = {"I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        http_status = None
        for attempt in range(CALLBACK_ATTEMPTS):
            if attempt and self._stopping.wait(CALLBACK_RETRY_DELAY):
                break
            try:
                http_status = sign_and_post(url, params, self.auth_token, headers=token).status_code
            except requests.RequestException:
                http_status = None
            if http_status is not None and http_status < 500:
                break  # answered; Twilio does not retry a 4xx either
        with self._lock:
            self.callbacks.append((url, params, http_status))
