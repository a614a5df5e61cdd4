"""GET/POST /r/<token>: the owner's reply form from the follow-up letter (律师函后函).

The page knows the owner only by the ids in the signed link, and shows none of them. An altered,
expired or already answered link gets one plain page (410) that tells nobody anything.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, current_app, render_template, request
from marshmallow import ValidationError

from services.gateway.reply_form.answers import COMPLAINT_CATEGORIES, TEXT_FIELDS, read_answers
from services.gateway.reply_form.attempts import Limit, count_attempt
from services.gateway.reply_form.csrf import csrf_token_matches, issue_csrf_token, link_digest
from services.gateway.reply_form.submission import already_answered, submit_answers
from services.gateway.reply_form.wording import WORDS, pick_locale
from shared.events import FORM_REASONS
from shared.reply_form import read_reply_form_token

log = logging.getLogger(__name__)
bp = Blueprint("reply_form", __name__, template_folder="templates")

# Four boxes of 2000 characters, percent-encoded (up to 12 bytes a character), and the rest.
MAX_FORM_BYTES = 128 * 1024
POSTS_PER_LINK = Limit(10, timedelta(hours=1))
POSTS_PER_IP = Limit(30, timedelta(hours=1))
_FIELDS = frozenset({"reasons", "category", "disputed_amount", *TEXT_FIELDS})
# No third-party anything; the link is a credential, so it never leaves in a Referer.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}


@bp.after_request
def _protect(response):
    response.headers.update(_HEADERS)
    return response


def _engine():
    return current_app.extensions["gateway.db"]


def _secret() -> str:
    return current_app.config["SETTINGS"].secret_key


def _page(template: str, status: int, locale: str, **context):
    return render_template(f"reply_form/{template}", w=WORDS[locale], locale=locale, **context), status


def _notice(locale: str, status: int, kind: str):
    words = WORDS[locale]
    return _page("notice.html", status, locale, heading=words[f"{kind}_title"], message=words[f"{kind}_body"])


def _form(token: str, locale: str, status: int = 200, values: dict | None = None, errors: dict | None = None):
    return _page("form.html", status, locale, csrf_token=issue_csrf_token(_secret(), token),
                 reasons=FORM_REASONS, categories=COMPLAINT_CATEGORIES, values=values or {}, errors=errors or {})


def _open_link(token: str) -> tuple[str, str] | None:
    """(owner_id, case_id) for a link that is ours, fresh and not yet answered."""
    claims = read_reply_form_token(_secret(), token)
    if claims is None or already_answered(_engine(), token):
        return None
    return claims


def _too_many(locale: str, wait: int):
    response, status = _notice(locale, 429, "too_many")
    return response, status, {"Retry-After": str(wait)}


@bp.get("/r/<token>")
def reply_form(token: str):
    locale = pick_locale(request)
    if _open_link(token) is None:
        return _notice(locale, 410, "gone")
    return _form(token, locale)


@bp.post("/r/<token>")
def submit_reply_form(token: str):
    request.max_content_length = current_app.config.get("REPLY_FORM_MAX_BYTES", MAX_FORM_BYTES)
    locale = pick_locale(request)
    config = current_app.config
    wait = count_attempt(_engine(), f"ip:{request.remote_addr}", config.get("REPLY_FORM_POSTS_PER_IP", POSTS_PER_IP))
    if wait is not None:
        log.warning("reply form: too many posts from one address")
        return _too_many(locale, wait)
    claims = _open_link(token)
    if claims is None:
        return _notice(locale, 410, "gone")
    wait = count_attempt(_engine(), f"link:{link_digest(token)}",
                         config.get("REPLY_FORM_POSTS_PER_LINK", POSTS_PER_LINK))
    if wait is not None:
        log.warning("reply form: too many posts for one link", extra={"case_id": claims[1]})
        return _too_many(locale, wait)
    form = request.form.copy()  # reading the body: 413 past the limit
    values = _values(form)
    if not csrf_token_matches(_secret(), token, form.pop("csrf_token", None)):
        log.info("reply form: CSRF token missing, altered or stale", extra={"case_id": claims[1]})
        return _form(token, locale, 403, values, {"form": WORDS[locale]["errors"]["csrf"]})
    try:
        answers = read_answers(form)
    except ValidationError as exc:
        log.info("reply form: answers refused", extra={"case_id": claims[1], "fields": _named(exc.messages)})
        return _form(token, locale, 400, values, _errors(exc.messages, locale))
    owner_id, case_id = claims
    submission_id = submit_answers(_engine(), token, owner_id, case_id, answers, locale)
    if submission_id is None:  # answered from another tab a moment ago
        return _notice(locale, 410, "gone")
    log.info("reply form answered", extra={
        "submission_id": submission_id, "case_id": case_id, "reasons": [r["reason"] for r in answers["reasons"]],
    })
    return _notice(locale, 200, "thanks")


@bp.errorhandler(413)
def _too_long(_exc):
    return _notice(pick_locale(request), 413, "too_long")


def _values(form) -> dict:
    """What the owner entered, to put back on the page when it is shown again."""
    values = {name: form.get(name, "")[:4000] for name in (*TEXT_FIELDS, "category", "disputed_amount")}
    values["reasons"] = form.getlist("reason")
    return values


def _named(messages: dict) -> list[str]:
    """The refused fields for a log line; a made-up field name is the sender's text, so it is not logged."""
    return sorted({field if field in _FIELDS else "unknown" for field in messages})


def _errors(messages: dict, locale: str) -> dict:
    """One message in the owner's language per field that was refused."""
    words = WORDS[locale]["errors"]
    found = {}
    for field in messages:
        if field in ("reasons", "category", "disputed_amount"):
            found[field] = words[field]
        elif field in TEXT_FIELDS:
            found[field] = words["text"]
        else:
            found["form"] = words["form"]
    return found
