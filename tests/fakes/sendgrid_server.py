"""A local stand-in for SendGrid's v3 mail send endpoint, for running the official `sendgrid` client offline.

    with FakeSendGrid() as fake:
        sg = SendGridAPIClient(fake.api_key, host=fake.url)
        sg.send(Mail(from_email="billing@example.com", to_emails="owner@example.com",
                     subject="Fee due", plain_text_content="..."))
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time

from tests.fakes.replies import FakeHandler, Reply, ScriptedServer

__all__ = ["FakeSendGrid", "Reply"]

MAX_PERSONALIZATIONS = 1000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MESSAGE_FOR_STATUS = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    404: "resource not found",
    413: "payload too large",
    429: "too many requests",
    500: "internal error",
    503: "service unavailable",
}


def sendgrid_errors(*errors: tuple[str | None, str]) -> dict:
    """SendGrid's error body: one entry per (field, message)."""
    return {"errors": [{"message": message, "field": field, "help": None} for field, message in errors]}


def new_message_id() -> str:
    # SendGrid's X-Message-Id is 22 characters of URL-safe base64.
    return base64.urlsafe_b64encode(os.urandom(16)).decode()[:22]


def _is_email(value) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value))


# SendGrid's own wording for the validation errors faked below.
_NO_PERSONALIZATIONS = "The personalizations field is required and must have at least one personalization."
_TOO_MANY_PERSONALIZATIONS = (f"The personalizations field is limited to {MAX_PERSONALIZATIONS} "
                              "personalizations per API request.")
_NO_RECIPIENTS = ("The to array is required for all personalization objects, and must have at least one "
                  "email object with a valid email address.")
_NO_SENDER = ("The from object must be provided for every email send. It is an object that requires an "
              "email parameter, but may also contain a name parameter.")
_NO_SUBJECT = ("The subject is required. You can get around this requirement if you use a template with a "
               "subject defined or if every personalization has a subject defined.")
_NO_CONTENT = ("Unless a valid template_id is provided, the content parameter is required. There must be at "
               "least one defined content block. We typically suggest both text/plain and text/html blocks "
               "are included, but only one block is required.")
_BLANK_CONTENT_TYPE = "The content type cannot be blank."
_BLANK_CONTENT_VALUE = "The content value must be a string at least one character in length."


def mail_problems(mail) -> list[tuple[str | None, str]]:
    """The (field, message) pairs SendGrid would reject this body with; empty if it is acceptable.

    Covers the checks a sender can realistically get wrong, not SendGrid's full rule set.
    """
    if not isinstance(mail, dict):
        return [(None, "Bad Request")]
    problems = []
    has_template = bool(mail.get("template_id"))
    personalizations = mail.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(("personalizations", _NO_PERSONALIZATIONS))
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        problems.append(("personalizations", _TOO_MANY_PERSONALIZATIONS))
    for index, personalization in enumerate(personalizations):
        recipients = personalization.get("to") if isinstance(personalization, dict) else None
        if not (isinstance(recipients, list) and recipients
                and all(isinstance(r, dict) and _is_email(r.get("email")) for r in recipients)):
            problems.append((f"personalizations.{index}.to", _NO_RECIPIENTS))
    sender = mail.get("from")
    if not (isinstance(sender, dict) and _is_email(sender.get("email"))):
        problems.append(("from.email", _NO_SENDER))
    every_one_has_subject = bool(personalizations) and all(
        isinstance(p, dict) and p.get("subject") for p in personalizations)
    if not (mail.get("subject") or every_one_has_subject or has_template):
        problems.append(("subject", _NO_SUBJECT))
    if not has_template:
        problems.extend(_content_problems(mail.get("content")))
    return problems


def _content_problems(content) -> list[tuple[str, str]]:
    if not isinstance(content, list) or not content:
        return [("content", _NO_CONTENT)]
    problems = []
    for index, block in enumerate(content):
        block = block if isinstance(block, dict) else {}
        if not block.get("type"):
            problems.append((f"content.{index}.type", _BLANK_CONTENT_TYPE))
        if not (isinstance(block.get("value"), str) and block["value"]):
            problems.append((f"content.{index}.value", _BLANK_CONTENT_VALUE))
    return problems


class _SendGridHandler(FakeHandler):
    def do_POST(self) -> None:
        fake: FakeSendGrid = self.server.fake
        authorization = self.headers.get("Authorization")
        if not authorization:
            return self.answer(401, sendgrid_errors((None, "authorization required")))
        if authorization != f"Bearer {fake.api_key}":
            return self.answer(401, sendgrid_errors((None, _MESSAGE_FOR_STATUS[401])))
        if self.path.split("?")[0] != "/v3/mail/send":
            return self.answer(404, sendgrid_errors((None, _MESSAGE_FOR_STATUS[404])))
        raw = self.read_body().decode("utf-8", errors="replace")
        try:
            mail = json.loads(raw)
        except ValueError:
            mail = raw  # keep what was sent; it is rejected below
        fake._record_request(mail)
        reply = fake.next_reply()
        if reply.kind == "error":
            return self._scripted_error(reply)
        problems = mail_problems(mail)
        if problems:
            return self.answer(400, sendgrid_errors(*problems))
        message_id = fake._accept(mail)
        if reply.kind == "accepted_then_error":
            return self._scripted_error(reply)
        self.answer(202, content_type="text/plain; charset=utf-8", headers={"X-Message-Id": message_id})

    def _scripted_error(self, reply: Reply) -> None:
        message = reply.message or _MESSAGE_FOR_STATUS.get(reply.status, "error")
        headers = {}
        if reply.status == 429:
            # SendGrid tells a throttled caller when its window resets (epoch seconds).
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset": str(int(time.time()) + 1)}
        self.answer(reply.status, sendgrid_errors((None, message)), headers=headers)


class FakeSendGrid(ScriptedServer):
    handler_class = _SendGridHandler

    def __init__(self, api_key: str | None = None, latency: float = 0.0):
        super().__init__(latency)
        self.api_key = api_key or "SG." + secrets.token_urlsafe(16) + "." + secrets.token_urlsafe(32)
        self.requests: list = []
        self.accepted: list[tuple[str, dict]] = []
        # What each personalization of an accepted request became, as SendGrid builds it: one dict
        # per email (to, subject, text, html, reply_to, custom_args) with substitutions applied.
        self.messages: list[tuple[str, dict]] = []

    def _record_request(self, mail) -> None:
        with self._lock:
            self.requests.append(mail)

    def _accept(self, mail: dict) -> str:
        message_id = new_message_id()
        messages = [(message_id, email) for email in personalized(mail)]
        with self._lock:
            self.accepted.append((message_id, mail))
            self.messages.extend(messages)
        return message_id


def personalized(mail: dict) -> list[dict]:
    """The emails a v3 mail send body makes: one per personalization, substitutions applied.

    SendGrid applies a personalization's substitutions to the content, the subject and the
    Reply-To; its custom_args add to (and override) the message's.
    """
    emails = []
    contents = {block.get("type"): block.get("value") for block in mail.get("content") or []}
    for p in mail["personalizations"]:
        substitutions = p.get("substitutions") or {}
        emails.append({
            "to": [r["email"] for r in p["to"]],
            "subject": _filled(p.get("subject") or mail.get("subject"), substitutions),
            "text": _filled(contents.get("text/plain"), substitutions),
            "html": _filled(contents.get("text/html"), substitutions),
            "reply_to": _filled((mail.get("reply_to") or {}).get("email"), substitutions),
            "custom_args": {**(mail.get("custom_args") or {}), **(p.get("custom_args") or {})},
        })
    return emails


def _filled(value: str | None, substitutions: dict) -> str | None:
    if value is None:
        return None
    for tag, replacement in substitutions.items():
        value = value.replace(tag, replacement)
    return value
