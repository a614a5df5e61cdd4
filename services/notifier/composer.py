"""Turn a send request into the message a provider sends: wording, Reply-To, HTML and letters."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, select

from services.notifier import templates
from services.notifier.letters import Letter, LetterShelf, formatted_date, is_letter, render_letter
from services.notifier.providers import Email, Sms
from services.notifier.templates.overrides import template_overrides, wording_for
from services.notifier.templates.rendering import supported
from shared.config import Settings
from shared.reply_address import ReplyRoute, reply_address
from shared.reply_form import make_reply_form_link

# Letters are dated in the group's home timezone; communities elsewhere are a later refinement.
LETTER_TIMEZONE = ZoneInfo("Asia/Shanghai")


def letter_date() -> date:
    return datetime.now(UTC).astimezone(LETTER_TIMEZONE).date()


class Composer:
    def __init__(self, engine: Engine, gateway_public_url: str, secret_key: str, reply_domain: str,
                 data_dir: Path | str):
        self.engine = engine
        self.gateway_public_url = gateway_public_url.rstrip("/")
        self.secret_key = secret_key
        self.reply_domain = reply_domain
        self.shelf = LetterShelf(data_dir)
        # Community wordings by (community, template, channel, locale), valid for one wordings_version.
        self._cache: dict[tuple, templates.Wording] = {}
        self._cache_version: object = None
        self._cache_lock = threading.Lock()

    @classmethod
    def from_settings(cls, engine: Engine, gateway_public_url: str, settings: Settings) -> Composer:
        return cls(engine, gateway_public_url, settings.secret_key, settings.reply_domain, settings.data_dir)

    def sms(self, notification_id: str, p: dict, wording_seen: object = None) -> Sms:
        recipient = p["recipient"]
        wording = self._wording(p, "sms", wording_seen)
        body = templates.render_sms(p["template"], recipient["locale"], _values(p), wording)
        callback = f"{self.gateway_public_url}/webhooks/twilio/status?n={notification_id}"
        return Sms(recipient["phone"], body, callback)

    def email(self, notification_id: str, p: dict, wording_seen: object = None) -> Email:
        recipient = p["recipient"]
        locale = recipient["locale"]
        subject, text = templates.render_email(p["template"], locale, _values(p),
                                               self._wording(p, "email", wording_seen))
        route = ReplyRoute(recipient["owner_id"], notification_id)
        attachments = ()
        if is_letter(p["template"]):
            letter, path = self.letter(notification_id, p)
            attachments = ((letter.file_name, str(path)),)
        return Email(recipient["email"], subject, text, notification_id,
                     html=templates.email_html(text, locale),
                     reply_to=reply_address(self.secret_key, self.reply_domain, route),
                     attachments=attachments)

    def letter(self, notification_id: str, p: dict) -> tuple[Letter, Path]:
        """Write the stage's letter for this owner where it is kept for printing."""
        recipient, context = p["recipient"], p.get("context") or {}
        link = None
        if p["template"] == "follow_up_letter":
            link = make_reply_form_link(self.secret_key, self.gateway_public_url, recipient["owner_id"],
                                        str(p["case_id"]))
        letter = Letter(p["template"], recipient["locale"], recipient["name"], _amount(context), letter_date(),
                        _community(p), _text_or_none(context.get("unit")), link)
        return letter, self.shelf.keep(_community(p), notification_id, render_letter(letter))

    def _wording(self, p: dict, channel: str, seen: object = None) -> templates.Wording:
        """The wording in force; from the cache when the caller saw the wordings' version (see below)."""
        key = (_community(p), p["template"], channel, p["recipient"]["locale"])
        if seen is None:
            with self.engine.connect() as connection:
                return wording_for(connection, *key)
        with self._cache_lock:
            if self._cache_version != seen:
                self._cache.clear()
                self._cache_version = seen
            cached = self._cache.get(key)
        if cached is None:
            with self.engine.connect() as connection:
                cached = wording_for(connection, *key)
            with self._cache_lock:
                if self._cache_version == seen:
                    self._cache[key] = cached
        return cached


def wordings_version(connection: Connection) -> tuple:
    """What changes whenever a community's wording is saved: read in the claim transaction.

    A wording saved (PUT, in the web process) before a send's claim committed is in this version,
    so the composer's cache, kept per version, never hands out wording older than the claim.
    """
    count, latest = connection.execute(select(*wordings_version_columns())).one()
    return (count, latest)


def wordings_version_columns() -> tuple:
    """wordings_version as two scalar subqueries, for a caller reading other things in the same statement."""
    return (select(func.count()).select_from(template_overrides).scalar_subquery(),
            select(func.max(template_overrides.c.updated_at)).scalar_subquery())


def _community(p: dict) -> str | None:
    return p.get("community") or (p.get("context") or {}).get("community")


def _amount(context: dict) -> str:
    return str(context.get("amount_owed") or context.get("amount") or "")


def _text_or_none(value) -> str | None:
    return str(value) if value not in (None, "") else None


def _values(p: dict) -> dict:
    """The variables wording may use (templates.VARIABLES), from the request."""
    context = p.get("context") or {}
    return {**{k: str(v) for k, v in context.items()}, "name": p["recipient"]["name"],
            "amount": _amount(context), "community": _community(p) or "", "unit": context.get("unit") or "",
            "date": formatted_date(letter_date(), supported(p["recipient"]["locale"]))}
