"""What an owner's reply means for their case: a promise, a complaint, a question, an opt-out."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, case, insert, select, update

from services.cases import inbox, owner_issue
from services.cases.config import load_settings
from services.cases.promise import PromiseRefused, record_promise
from services.cases.tables import (
    cases,
    communities,
    outbox,
    owner_contacts,
    owner_replies,
    owners,
    staff_tasks,
)
from shared.envelope import Envelope, new_event
from shared.outbox import add_to_outbox
from shared.reply_address import read_reply_address

log = logging.getLogger(__name__)

# Replies that need a person: hardship gets an instalment offer, "already paid" a check.
STAFF_FOLLOW_UP = {"hardship": "offer_instalments", "paid_already": "verify_payment"}


def match_sender(connection: Connection, channel: str, sender: str) -> tuple[str | None, str | None, str | None]:
    """The owner behind a phone or email, their newest open case, and its community."""
    contact_channel = "sms" if channel == "sms" else "email"
    address = sender.lower() if contact_channel == "email" else sender
    row = connection.execute(
        select(owner_contacts.c.owner_id, cases.c.id, cases.c.community)
        .join(cases, cases.c.owner_id == owner_contacts.c.owner_id)
        .where(owner_contacts.c.channel == contact_channel, owner_contacts.c.address == address)
        .order_by(case((cases.c.status == "open", 0), else_=1), cases.c.opened_at.desc())
        .limit(1)
    ).first()
    return (row.owner_id, row.id, row.community) if row else (None, None, None)


def match_reply_address(connection: Connection, recipient: str | None) -> tuple[str | None, str | None, str | None]:
    """The owner named by the tokenised Reply-To their email answered, and their newest case."""
    route = read_reply_address(_secret(), recipient or "")
    if route is None:
        return None, None, None
    row = connection.execute(
        select(cases.c.owner_id, cases.c.id, cases.c.community).where(cases.c.owner_id == route.owner_id)
        .order_by(case((cases.c.status == "open", 0), else_=1), cases.c.opened_at.desc()).limit(1)
    ).first()
    return (row.owner_id, row.id, row.community) if row else (None, None, None)


@cache
def _secret() -> str:
    return load_settings().secret_key


def on_owner_replied(connection: Connection, event: Envelope) -> None:
    p = event.payload
    owner_id, case_id, community = (None, None, None)
    if p["channel"] == "email":
        # The Reply-To token names the owner even when they answer from another address.
        owner_id, case_id, community = match_reply_address(connection, p["recipient"])
    if owner_id is None:
        owner_id, case_id, community = match_sender(connection, p["channel"], p["sender"])
    reply_row_id = str(uuid.uuid4())
    connection.execute(insert(owner_replies).values(
        id=reply_row_id, provider_message_id=p["provider_message_id"], channel=p["channel"],
        owner_id=owner_id, case_id=case_id, body=p["body"], intent=p["intent"], received_at=p["received_at"],
    ))
    if p["intent"] == "question" and p.get("faq_entry_id") is None:
        # The gateway found no FAQ answer good enough: a person answers it.
        inbox.keep_question(connection, reply_row_id=reply_row_id, reply=p, owner_id=owner_id, case_id=case_id,
                            community=community)
    if case_id is None:
        log.info("reply from an unknown sender kept for staff", extra={"channel": p["channel"]})
        return
    _act_on_intent(connection, p, owner_id, case_id, community)


def _act_on_intent(connection, p: dict, owner_id: str, case_id: str, community: str) -> None:
    intent = p["intent"]
    today = _local_today(connection, community, p["received_at"])
    if intent == "promise_to_pay" and p["promised_date"] is not None:
        try:
            record_promise(connection, case_id, p["promised_date"], p["amount"], p["channel"], today)
        except PromiseRefused as exc:
            log.info("promise in reply not recorded", extra={"reason": str(exc)})
        else:
            _acknowledge_promise(connection, p, owner_id, case_id, community)
    elif intent in ("complaint", "dispute"):
        category = "billing_dispute" if intent == "dispute" else (p["category"] or "other")
        owner_issue.open_issue(connection, owner_id=owner_id, community=community, case_id=case_id,
                               category=category, description=p["body"], source=p["channel"],
                               actor="owner")
    elif intent in STAFF_FOLLOW_UP:
        connection.execute(insert(staff_tasks).values(
            id=str(uuid.uuid4()), kind=STAFF_FOLLOW_UP[intent], community=community, owner_id=owner_id,
            case_id=case_id, status="open", created_at=datetime.now(UTC),
        ))


def reply_id(provider_message_id: str) -> uuid.UUID:
    """The stable id of an owner's reply: the gateway derives the same for its own auto-replies."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"owner-reply:{provider_message_id}")


def _acknowledge_promise(connection: Connection, p: dict, owner_id: str, case_id: str, community: str) -> None:
    """Thank the owner for the day they named, where they wrote from, in their language."""
    if p["channel"] not in ("sms", "email"):
        return
    locale = connection.execute(select(owners.c.locale).where(owners.c.id == owner_id)).scalar() or "zh-CN"
    add_to_outbox(connection, outbox, new_event("autoreply.requested", {
        "reply_id": reply_id(p["provider_message_id"]), "kind": "promise_ack", "channel": p["channel"],
        "address": p["sender"], "locale": locale, "in_reply_to": p["provider_message_id"],
        "owner_id": owner_id, "case_id": case_id, "community": community,
        "context": {"promised_date": p["promised_date"].isoformat()},
    }))


def _local_today(connection: Connection, community: str, received_at: datetime):
    timezone = connection.execute(select(communities.c.timezone).where(communities.c.id == community)).scalar()
    return received_at.astimezone(ZoneInfo(timezone or "Asia/Shanghai")).date()


def on_suppression_changed(connection: Connection, event: Envelope) -> None:
    """An opt-out stops that channel for the owner; the case goes on by the others, or by letter."""
    p = event.payload
    address = p["address"].lower() if p["channel"] == "email" else p["address"]
    connection.execute(
        update(owner_contacts)
        .where(owner_contacts.c.channel == p["channel"], owner_contacts.c.address == address,
               owner_contacts.c.status != "bad")
        .values(status="opted_out" if p["opted_out"] else "ok", reason=p["source"],
                updated_at=datetime.now(UTC))
    )
