"""What the gateway answers an owner straight away, published with the reply it answers.

Each accepted owner reply may call for one auto-reply (autoreply.requested; the notifier sends it
through its governor and opt-out rules):
  promise without a day ("过几天")   -> ask_date
  a question an FAQ entry answers   -> faq_answer, with the answer in the owner's language
  HELP / 帮助                        -> help
  STOP / 退订 ...                    -> opt_out_confirmed (the one message an opted-out address still gets)
  START / 订阅                       -> opt_in_confirmed
A dated promise is acknowledged by cases once it is recorded (promise_ack), not here.

`reply_id` is uuid5 of the provider's message id, the same rule cases uses, so a provider's retry
yields the same id and the notifier sends one auto-reply per (reply_id, kind).
"""
from __future__ import annotations

import uuid

from flask import current_app, has_app_context
from sqlalchemy import Connection

from services.gateway.directory import place_of
from services.gateway.faq.entries import find_entry
from shared.envelope import Envelope, new_event

_KIND_BY_INTENT = {"help": "help", "opt_out": "opt_out_confirmed", "opt_in": "opt_in_confirmed"}


def reply_id(provider_message_id: str) -> uuid.UUID:
    """The stable id of an owner's reply (cases derives the same)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"owner-reply:{provider_message_id}")


def _kind_and_context(connection: Connection, reply: dict, locale: str) -> tuple[str | None, str, dict]:
    intent = reply.get("intent")
    if intent == "promise_to_pay" and reply.get("promised_date") is None:
        return "ask_date", locale, {}
    if reply.get("faq_entry_id"):
        entry = _faq_entry(connection, reply["faq_entry_id"])
        if entry is None:  # deleted in the instant between reading the reply and storing it: no answer
            return None, locale, {}
        answer, answer_locale = entry.answer_in(locale)
        return "faq_answer", answer_locale, {"answer": answer, "faq_entry_id": entry.id}
    return _KIND_BY_INTENT.get(intent), locale, {}


def _faq_entry(connection: Connection, entry_id: str):
    """The entry the reply was matched to: from the web worker's FAQ copy it was matched against
    (so the answer is the one that matched), or from the store outside a request."""
    faq = current_app.extensions.get("gateway.faq") if has_app_context() else None
    if faq is not None:
        for entry in faq.entries(connection):
            if entry.id == entry_id:
                return entry
    return find_entry(connection, entry_id)


def _calls_for_an_answer(reply: dict) -> bool:
    intent = reply.get("intent")
    return (bool(reply.get("faq_entry_id")) or intent in _KIND_BY_INTENT
            or (intent == "promise_to_pay" and reply.get("promised_date") is None))


def auto_replies(connection: Connection, reply: dict) -> list[Envelope]:
    """The autoreply.requested an owner.replied payload calls for (none, or one)."""
    if reply["channel"] not in ("sms", "email") or not _calls_for_an_answer(reply):
        return []
    # The language the owner wrote in; for a reply we could not read, the one cases knows them by.
    place = place_of(connection, reply["channel"], reply["sender"])
    locale = reply.get("language") or place.locale or "zh-CN"
    kind, locale, context = _kind_and_context(connection, reply, locale)
    if kind is None:
        return []
    return [new_event("autoreply.requested", {
        "reply_id": reply_id(reply["provider_message_id"]), "kind": kind, "channel": reply["channel"],
        "address": reply["sender"], "locale": locale, "in_reply_to": reply["provider_message_id"],
        "community": place.community, "context": context,
    })]
