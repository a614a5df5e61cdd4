"""SMS and email providers behind one small port, with their failures sorted three ways.

- `ProviderRefused`: permanent for this address (Twilio 21211/21610, SendGrid 400); never retried.
- `ProviderUnavailable`: nothing was sent (429, connection refused, auth); retry later.
- `OutcomeUnknown`: the request went out but no answer came back (timeout, 5xx); the message
  may have been sent, so it must be reconciled, never blindly repeated.
"""
from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import threading
import urllib.error
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from requests.adapters import HTTPAdapter
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    Mail,
    Personalization,
    ReplyTo,
    Substitution,
    To,
)
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

from shared.config import Settings

log = logging.getLogger(__name__)


class ProviderError(Exception):
    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class ProviderRefused(ProviderError):
    pass


class ProviderUnavailable(ProviderError):
    pass


class OutcomeUnknown(ProviderError):
    pass


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    status_callback: str | None


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    notification_id: str
    html: str | None = None
    reply_to: str | None = None  # tokenised (shared.reply_address): a reply finds the owner
    # (file name the owner sees, path of the PDF kept for printing); paths keep the message JSON-able.
    attachments: tuple[tuple[str, str], ...] = ()


TWILIO_API = "https://api.twilio.com"
CONNECTIONS = 32  # kept-alive connections to Twilio: one per provider call in flight (NOTIFIER_CONCURRENCY)


class TwilioSms:
    name = "twilio"

    def __init__(self, settings: Settings, connections: int = CONNECTIONS):
        base_url = (settings.twilio_api_base_url or "").rstrip("/")
        self.client = TwilioClient(
            settings.twilio_account_sid, settings.twilio_auth_token,
            http_client=twilio_http_client(base_url or TWILIO_API, settings.provider_timeout, connections),
        )
        if base_url:
            self.client.api.base_url = base_url
        sender = settings.twilio_from
        self.sender = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}

    def send(self, sms: Sms) -> str:
        try:
            message = self.client.messages.create(
                to=sms.to, body=sms.body, status_callback=sms.status_callback, **self.sender
            )
        except TwilioRestException as exc:
            raise _sorted_twilio_error(exc) from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise ProviderUnavailable(f"cannot reach Twilio: {type(exc).__name__}") from exc
            # The connection broke after the request may have been read: do not resend blindly.
            raise OutcomeUnknown(f"Twilio connection broke: {type(exc).__name__}") from exc
        except requests.exceptions.Timeout as exc:
            raise OutcomeUnknown("Twilio did not answer in time") from exc
        return message.sid


def twilio_http_client(api_url: str, timeout: float, connections: int) -> TwilioHttpClient:
    """The official client's HTTP client, set up once for many sends from many threads at a time.

    - Its session keeps up to `connections` connections alive (requests keeps 10, and twilio 6 for
      https at most), so each of the dispatcher's concurrent calls reuses one instead of opening a
      connection per message once more than that are in flight.
    - The environment (HTTPS_PROXY/NO_PROXY, REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE) is read here, once,
      with requests' own rules, instead of by requests on every call (a walk over os.environ
      each time): proxies and the CA bundle apply exactly as before.
    """
    http = TwilioHttpClient(timeout=timeout, proxy=requests.utils.get_environ_proxies(api_url))
    session = http.session
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False  # read above; nothing else of the environment applies (the auth is Twilio's)
    for prefix in ("https://", "http://"):
        session.mount(prefix, HTTPAdapter(pool_connections=1, pool_maxsize=connections))
    return http


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when no connection was made, so Twilio cannot have seen the request."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    # NewConnectionError (refused, DNS) is a ConnectTimeoutError in urllib3 2.
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)


def _sorted_twilio_error(exc: TwilioRestException) -> ProviderError:
    code = str(exc.code) if exc.code is not None else None
    if exc.status == 429 or exc.status in (401, 403):
        return ProviderUnavailable(f"Twilio answered {exc.status}", code)
    if exc.status >= 500:
        return OutcomeUnknown(f"Twilio answered {exc.status}", code)
    return ProviderRefused(f"Twilio refused the message ({exc.status})", code)


class SendGridEmail:
    name = "sendgrid"

    def __init__(self, settings: Settings):
        self.client = SendGridAPIClient(settings.sendgrid_api_key, host=settings.sendgrid_api_host)
        self.client.client.timeout = settings.provider_timeout
        self.sender = settings.sendgrid_from_email

    def send(self, email: Email) -> str:
        mail = Mail(from_email=self.sender, to_emails=email.to, subject=email.subject,
                    plain_text_content=email.text, html_content=email.html)
        # Comes back on every event webhook, so delivery reports find the notification.
        mail.custom_arg = CustomArg("notification_id", email.notification_id)
        if email.reply_to:
            mail.reply_to = ReplyTo(email.reply_to)
        for file_name, path in email.attachments:
            mail.attachment = Attachment(FileContent(base64.b64encode(Path(path).read_bytes()).decode("ascii")),
                                         FileName(file_name), FileType("application/pdf"),
                                         Disposition("attachment"))
        return self._post(mail)

    batches = True  # send_batch: many personalizations in one request (email_batch.py)

    def send_batch(self, shape, emails) -> str:
        """One request for emails sharing `shape` (email_batch.Shape), each an email_batch.Addressed.

        Each personalization has its recipient, subject, substitutions and notification id; the
        X-Message-Id returned is the whole request's.
        """
        mail = Mail(from_email=self.sender, plain_text_content=shape.text, html_content=shape.html)
        for one in emails:
            personalization = Personalization()
            personalization.add_to(To(one.email.to))
            personalization.subject = one.email.subject
            for tag, value in one.substitutions.items():
                personalization.add_substitution(Substitution(tag, value))
            personalization.add_custom_arg(CustomArg("notification_id", one.email.notification_id))
            mail.add_personalization(personalization)
        if shape.reply_to:
            mail.reply_to = ReplyTo(shape.reply_to)
        return self._post(mail)

    def _post(self, mail: Mail) -> str:
        try:
            response = self.client.send(mail)
        except SendGridHTTPError as exc:
            raise _sorted_sendgrid_error(exc) from exc
        except urllib.error.URLError as exc:
            raise ProviderUnavailable(f"cannot reach SendGrid: {exc.reason!r}") from exc
        except TimeoutError as exc:
            raise OutcomeUnknown("SendGrid did not answer in time") from exc
        except (http.client.HTTPException, ConnectionError) as exc:
            # urllib wraps failures to connect in URLError (above); these came after sending.
            raise OutcomeUnknown(f"SendGrid connection broke: {type(exc).__name__}") from exc
        return response.headers.get("X-Message-Id") or ""


def _sorted_sendgrid_error(exc: SendGridHTTPError) -> ProviderError:
    status = exc.status_code
    if status == 429 or status in (401, 403):
        return ProviderUnavailable(f"SendGrid answered {status}", str(status))
    if status >= 500:
        return OutcomeUnknown(f"SendGrid answered {status}", str(status))
    return ProviderRefused(f"SendGrid refused the message ({status})", str(status))


class ConsoleOutbox:
    """Development provider: keeps what would have been sent in a JSON-lines file."""

    _lock = threading.Lock()

    def __init__(self, settings: Settings, channel: str):
        self.path = Path(settings.data_dir) / "console_outbox.jsonl"
        self.channel = channel
        self.name = "console"

    def send(self, message: Sms | Email) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        record = {"id": message_id, "channel": self.channel, **message.__dict__}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        log.info("console provider kept a message", extra={"channel": self.channel, "file": str(self.path)})
        return message_id


def sms_provider(settings: Settings, connections: int = CONNECTIONS):
    """`connections`: how many calls the dispatcher keeps in flight (each keeps its connection alive)."""
    return TwilioSms(settings, connections) if settings.sms_provider == "twilio" else ConsoleOutbox(settings, "sms")


def email_provider(settings: Settings):
    return SendGridEmail(settings) if settings.email_provider == "sendgrid" else ConsoleOutbox(settings, "email")
