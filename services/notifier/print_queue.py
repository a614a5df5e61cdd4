"""Letters on paper: rendered when cases asks, printed and posted by staff, evidence kept.

A letter is not a provider call: the PDF is written to the shelf (letters.LetterShelf) and a row
waits in `print_queue` for staff. It is not governed by the SMS/email caps, but a payment, a
promise or a closed case cancels it like any send, as long as it has not been printed. Posting it
(with the 挂号信 receipt or tracking number) tells cases through `message.sent` (channel
"letter", provider "post"), so the case timeline shows it.

    waiting ──printed──▶ printed ──posted──▶ posted
       │ └──────────────posted───────────────▲
       └──(payment, promise, closed case)──▶ cancelled
"""
from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier import ledger
from services.notifier.letters import FILE_NAME, LetterShelf, is_letter
from services.notifier.tables import outbox, print_queue
from services.notifier.templates.rendering import supported
from shared.envelope import Envelope, new_event
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)
STATES = ("waiting", "printed", "posted", "cancelled")


class UnknownLetter(LookupError):
    pass


class IllegalTransition(ValueError):
    """The letter is in a state the asked-for mark cannot follow (e.g. posting a cancelled letter)."""


def wanted(request: dict) -> bool:
    """Does this request put a letter in the print queue?

    When cases asks for the "letter" channel; and for a letter stage's notice to an owner with no
    email, whose only copy would otherwise have been the email attachment.
    """
    if not is_letter(request["template"]):
        return False
    return "letter" in request["channels"] or not request["recipient"].get("email")


def enqueue(connection: Connection, composer, request: dict, event: Envelope, now: datetime,
            stopped: str | None) -> bool:
    """Render the letter and queue it for printing, once per notification; False if queued before.

    A request already covered by a payment, promise or closed case is kept as cancelled, unrendered.
    """
    notification_id = str(request["notification_id"])
    known = connection.execute(select(print_queue.c.status)
                               .where(print_queue.c.notification_id == notification_id)).first()
    if known is not None:
        return False
    recipient = request["recipient"]
    locale = supported(recipient.get("locale"))
    if stopped:
        status, reason, file_name = "cancelled", stopped, FILE_NAME[(request["template"], locale)]
    else:
        letter, _path = composer.letter(notification_id, request)
        status, reason, file_name = "waiting", None, letter.file_name
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    row = connection.execute(insert(print_queue).values(
        notification_id=notification_id, community=request.get("community"), case_id=request["case_id"],
        owner_id=recipient["owner_id"], template=request["template"], locale=locale, file_name=file_name,
        status=status, reason=reason, correlation_id=event.correlation_id, requested_at=event.occurred_at,
        created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["notification_id"]).returning(print_queue.c.notification_id)).first()
    log.info("letter queued for printing" if status == "waiting" else "letter cancelled on arrival",
             extra={"notification_id": notification_id, "template": request["template"]})
    return row is not None


def stop(connection: Connection, scope: str, subject_id: str, through: datetime, reason: str,
         now: datetime) -> int:
    """Cancel waiting (unprinted) letters asked for up to `through` for an owner or a case."""
    subject = print_queue.c.owner_id if scope == "owner" else print_queue.c.case_id
    return connection.execute(
        update(print_queue).where(subject == subject_id, print_queue.c.status == "waiting",
                                  print_queue.c.requested_at <= through)
        .values(status="cancelled", reason=reason[:200], updated_at=now)
    ).rowcount


def find(connection: Connection, notification_id: str):
    return connection.execute(select(print_queue).where(print_queue.c.notification_id == notification_id)).first()


def listing(connection: Connection, community: str, status: str | None, limit: int,
            notification_ids: list[str] | None = None) -> list:
    query = select(print_queue).where(print_queue.c.community == community)
    if status:
        query = query.where(print_queue.c.status == status)
    if notification_ids:
        query = query.where(print_queue.c.notification_id.in_(notification_ids))
    return connection.execute(
        query.order_by(print_queue.c.requested_at, print_queue.c.notification_id).limit(limit)).all()


def counts(connection: Connection, community: str) -> dict[str, int]:
    found = dict(connection.execute(
        select(print_queue.c.status, func.count()).where(print_queue.c.community == community)
        .group_by(print_queue.c.status)).all())
    return {state: int(found.get(state, 0)) for state in STATES}


def owner_rows(connection: Connection, owner_id: str, communities: tuple[str, ...] | None) -> list[dict]:
    """An owner's letters for the outbox page, in the outbox's columns."""
    query = select(print_queue).where(print_queue.c.owner_id == owner_id)
    if communities is not None:
        query = query.where(print_queue.c.community.in_(communities))
    rows = connection.execute(query.order_by(print_queue.c.requested_at.desc()).limit(200)).all()
    return [{"notification_id": r.notification_id, "channel": "letter", "case_id": r.case_id,
             "community": r.community, "slot": 0, "template": r.template, "status": r.status, "reason": r.reason,
             "requested_at": r.requested_at, "due_at": r.requested_at, "sent_at": r.posted_at, "expires_at": None,
             "attempts": 0, "updated_at": r.updated_at, "provider": "post" if r.tracking_number else None,
             "provider_message_id": r.tracking_number, "delivery_status": None, "error_code": None,
             "printed_at": r.printed_at, "posted_on": r.posted_on} for r in rows]


def mark_printed(connection: Connection, notification_id: str, staff_id: str, now: datetime) -> bool:
    """waiting -> printed; True if it changed, False if it was printed already (idempotent)."""
    changed = connection.execute(
        update(print_queue).where(print_queue.c.notification_id == notification_id,
                                  print_queue.c.status == "waiting")
        .values(status="printed", printed_at=now, printed_by=staff_id[:64], updated_at=now)
    ).rowcount
    if changed:
        return True
    row = find(connection, notification_id)
    if row is None:
        raise UnknownLetter(notification_id)
    if row.status == "printed":
        return False
    raise IllegalTransition(f"The letter is {row.status}; only a waiting letter can be marked printed.")


def mark_all_printed(connection: Connection, community: str, notification_ids: list[str], staff_id: str,
                     now: datetime) -> int:
    """Mark a print run's letters printed, all or none; return how many changed.

    UnknownLetter if one is not in the community's queue; IllegalTransition if one is cancelled or posted.
    """
    rows = {r.notification_id: r for r in connection.execute(
        select(print_queue.c.notification_id, print_queue.c.status)
        .where(print_queue.c.community == community, print_queue.c.notification_id.in_(notification_ids))).all()}
    missing = [n for n in notification_ids if n not in rows]
    if missing:
        raise UnknownLetter(missing[0])
    refused = sorted(n for n, r in rows.items() if r.status not in ("waiting", "printed"))
    if refused:
        raise IllegalTransition(f"{len(refused)} of the letters are cancelled or posted; none was marked "
                                f"(first: {refused[0]}).")
    return sum(mark_printed(connection, n, staff_id, now) for n in dict.fromkeys(notification_ids))


def mark_posted(connection: Connection, notification_id: str, tracking_number: str, posted_on: date,
                staff_id: str, now: datetime) -> bool:
    """waiting | printed -> posted, with the evidence; tells cases (message.sent) once.

    True if it changed; False when it was already posted with the same tracking number.
    """
    where = and_(print_queue.c.notification_id == notification_id, print_queue.c.status.in_(("waiting", "printed")))
    row = connection.execute(select(print_queue).where(where).with_for_update()).first()
    if row is None:
        row = find(connection, notification_id)
        if row is None:
            raise UnknownLetter(notification_id)
        if row.status == "posted" and row.tracking_number == tracking_number:
            return False
        if row.status == "posted":
            raise IllegalTransition(f"The letter was already posted with tracking number {row.tracking_number}.")
        raise IllegalTransition(f"The letter is {row.status}; it must not be posted.")
    connection.execute(update(print_queue).where(where).values(
        status="posted", printed_at=row.printed_at or now, printed_by=row.printed_by or staff_id[:64],
        posted_at=now, posted_on=posted_on, tracking_number=tracking_number, posted_by=staff_id[:64],
        updated_at=now))
    # The send ledger keeps every send's evidence, a posted letter's too.
    if ledger.claim(connection, notification_id, "letter", row.case_id, row.owner_id).granted:
        ledger.record(connection, notification_id, "letter", "sent", provider="post",
                      provider_message_id=tracking_number)
    event = new_event("message.sent", {
        "notification_id": notification_id, "case_id": row.case_id, "channel": "letter", "provider": "post",
        "provider_message_id": tracking_number, "address": None, "sent_at": now,
    })
    add_to_outbox(connection, outbox, replace(event, correlation_id=row.correlation_id))
    log.info("letter posted", extra={"notification_id": notification_id})
    return True


def bundle(shelf: LetterShelf, rows: list) -> bytes:
    """The letters as one zip for printing, in queue order; a letter whose file is missing is left out."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, row in enumerate(rows, start=1):
            path = pdf_path(shelf, row)
            if path.exists():
                archive.write(path, f"{index:03d}-{row.notification_id}.pdf")
    return out.getvalue()


def pdf_path(shelf: LetterShelf, row) -> Path:
    return shelf.path_for(row.community, row.notification_id)
