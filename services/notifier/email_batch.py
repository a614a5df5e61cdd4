"""Reminder emails batched into one SendGrid request: up to 1,000 personalizations that share content.

Every reminder differs per owner: name, amount, unit... and its Reply-To, which carries a signed
token for the owner and notification (shared/reply_address.py) so a reply finds the owner.
SendGrid sets Reply-To per message, not per personalization, and refuses `Reply-To` among a
personalization's `headers`. But a personalization's `substitutions` apply to the content *and*
to the subject and Reply-To (SendGrid's documentation of the v3 personalizations object). So one
request carries the text and HTML with a substitution tag wherever a variable goes, and the
Reply-To `reply+%%reply%%@<REPLY_DOMAIN>`; each personalization carries its owner's values,
Reply-To token, subject and `custom_args.notification_id` (the event webhook settles each).

Only what can be batched honestly is: an email joins a batch only if filling the shared
content with its own values gives back, character for character, the email it would have been
sent alone (same subject, text, HTML and Reply-To). Anything else (a letter with its PDF, a
wording whose variables are transformed, a value that looks like a tag, substitutions over
SendGrid's 10,000 bytes) is sent alone, as before.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from markupsafe import escape

from services.notifier import templates
from services.notifier.composer import Composer, _values
from services.notifier.providers import Email

MAX_PERSONALIZATIONS = 1000  # SendGrid's limit per request
MAX_SUBSTITUTION_BYTES = 10_000  # SendGrid's limit per personalization
REPLY_TAG = "%%reply%%"
_MARK = "%%"


def tag(variable: str, html: bool = False) -> str:
    return f"%%{variable}{'.html' if html else ''}%%"


@dataclass(frozen=True)
class Shape:
    """What every email of one batch shares: content with tags, and the Reply-To with its tag."""

    text: str
    html: str | None
    reply_to: str | None


@dataclass(frozen=True)
class Addressed:
    """One email as a personalization of a batch: its own values for the tags."""

    email: Email
    substitutions: dict[str, str]


@dataclass
class Batch:
    shape: Shape | None  # None: sent alone (it cannot share its content)
    emails: list[Addressed] = field(default_factory=list)


def fill(source: str | None, substitutions: dict[str, str]) -> str | None:
    """What SendGrid does with a personalization's substitutions: every tag replaced by its value."""
    if source is None:
        return None
    for tag_, value in substitutions.items():
        source = source.replace(tag_, value)
    return source


def addressed(composer: Composer, notification_id: str, p: dict, wording_seen: object = None
              ) -> tuple[Addressed, Shape | None]:
    """The email for this send, and the shape it can share with others (None if it cannot)."""
    email = composer.email(notification_id, p, wording_seen)
    alone = Addressed(email, {})
    if email.attachments:
        return alone, None
    locale = p["recipient"]["locale"]
    values = _values(p)
    tagged = {**values, **{name: tag(name) for name in templates.VARIABLES if name in values}}
    _subject, text = templates.render_email(p["template"], locale, tagged, composer._wording(p, "email", wording_seen))
    html = templates.email_html(text, locale)
    substitutions: dict[str, str] = {}
    for name in templates.VARIABLES:
        if tag(name) in text:
            value = str(values.get(name, ""))
            html = html.replace(tag(name), tag(name, html=True))
            substitutions[tag(name)] = value
            substitutions[tag(name, html=True)] = str(escape(value))
    reply_to = None
    if email.reply_to:
        local, _, domain = email.reply_to.partition("@")
        token = local.removeprefix("reply+")
        reply_to, substitutions[REPLY_TAG] = f"reply+{REPLY_TAG}@{domain}", token
    shape = Shape(text, html if email.html is not None else None, reply_to)
    honest = (
        not any(_MARK in value for value in substitutions.values())
        and sum(len(k.encode()) + len(v.encode()) for k, v in substitutions.items()) <= MAX_SUBSTITUTION_BYTES
        and fill(shape.text, substitutions) == email.text
        and fill(shape.html, substitutions) == email.html
        and fill(shape.reply_to, substitutions) == email.reply_to
    )
    if not honest:
        return alone, None
    return Addressed(email, substitutions), shape


def batches(emails: Iterable[tuple[Addressed, Shape | None]]) -> list[Batch]:
    """Group emails that share a shape, at most MAX_PERSONALIZATIONS a request; the others alone."""
    grouped: dict[Shape, list[Batch]] = {}
    out: list[Batch] = []
    for email, shape in emails:
        if shape is None:
            out.append(Batch(None, [email]))
            continue
        open_ = grouped.setdefault(shape, [])
        if not open_ or len(open_[-1].emails) >= MAX_PERSONALIZATIONS:
            open_.append(Batch(shape))
            out.append(open_[-1])
        open_[-1].emails.append(email)
    return out
