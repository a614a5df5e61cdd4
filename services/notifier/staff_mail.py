"""Reports emailed to managers (staff_report.requested): through SendGrid, once per (report, recipient).

Staff mail is not owner contact: no governor, no suppression list, no send window and no Reply-To
token. Each recipient is one send ledger row (notification id = uuid5 of report and recipient),
so a redelivered request or a restarted worker never mails a manager twice.
"""
from __future__ import annotations

import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier import ledger
from services.notifier.providers import Email, OutcomeUnknown, ProviderRefused, ProviderUnavailable
from services.notifier.tables import staff_mail, staff_reports
from shared.envelope import Envelope
from shared.logs import bind_correlation_id, reset_correlation_id

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("0b6e2a55-3f1c-4d8e-a2b7-5c9d1e4f7a60")
WAITING = ("queued", "retry")
STAFF = "staff"  # the ledger's owner_id for staff mail
MAX_ATTEMPTS = 8
INTERRUPTED_AFTER = timedelta(minutes=10)


def notification_id(report_id: str, recipient: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{report_id}:{recipient.strip().lower()}"))


def accept(connection: Connection, p: dict, event: Envelope, now: datetime) -> int:
    """Keep the report and one send per distinct recipient; return how many sends are new."""
    report_id = str(p["report_id"])
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(insert(staff_reports).values(
        report_id=report_id, kind=p["kind"], community=p.get("community"), subject=p["subject"], html=p["html"],
        text=p["text"], correlation_id=event.correlation_id, requested_at=event.occurred_at,
    ).on_conflict_do_nothing(index_elements=["report_id"]))
    new = 0
    for recipient in dict.fromkeys(r.strip().lower() for r in p["recipients"]):
        new += connection.execute(insert(staff_mail).values(
            notification_id=notification_id(report_id, recipient), report_id=report_id, recipient=recipient,
            status="queued", attempts=0, due_at=now, created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["notification_id"]).returning(staff_mail.c.notification_id)
        ).first() is not None
    return new


class StaffMail:
    """Sends the staff mail that is due; run by the worker's prompt-send loop."""

    def __init__(self, engine: Engine, providers: Mapping, clock: Callable[[], datetime]):
        self.engine = engine
        self.providers = providers
        self.clock = clock

    def send_due(self) -> Counter:
        outcomes: Counter = Counter()
        now = self.clock()
        with self.engine.begin() as connection:
            stuck = connection.execute(select(staff_mail.c.notification_id).where(
                staff_mail.c.status == "sending", staff_mail.c.updated_at < now - INTERRUPTED_AFTER)).scalars().all()
            for nid in stuck:
                _move(connection, nid, "unknown", "interrupted mid-send; not resent", now)
                ledger.mark_interrupted(connection, nid, "email")
            due = connection.execute(
                select(staff_mail, staff_reports.c.subject, staff_reports.c.html, staff_reports.c.text,
                       staff_reports.c.correlation_id)
                .join(staff_reports, staff_reports.c.report_id == staff_mail.c.report_id)
                .where(staff_mail.c.status.in_(WAITING), staff_mail.c.due_at <= now)
                .order_by(staff_mail.c.due_at, staff_mail.c.notification_id).limit(50)
            ).all()
        for row in due:
            token = bind_correlation_id(row.correlation_id)
            try:
                outcomes[self._send(row)] += 1
            finally:
                reset_correlation_id(token)
        return +outcomes

    def _send(self, row) -> str:
        now = self.clock()
        nid = row.notification_id
        with self.engine.begin() as connection:
            claimed = connection.execute(
                update(staff_mail).where(staff_mail.c.notification_id == nid, staff_mail.c.status.in_(WAITING))
                .values(status="sending", attempts=staff_mail.c.attempts + 1, updated_at=now)).rowcount
            if not claimed:
                return "taken"
            claim = ledger.claim(connection, nid, "email", str(row.report_id), STAFF)
            if not claim.granted:
                _move(connection, nid, claim.status, "already handled by the send ledger", now)
                return claim.status
        provider = self.providers["email"]
        # No Reply-To token: a manager's reply is not an owner's reply.
        email = Email(row.recipient, row.subject, row.text, nid, html=row.html)
        try:
            provider_id = provider.send(email)
        except ProviderUnavailable as exc:
            with self.engine.begin() as connection:
                ledger.record(connection, nid, "email", "retry", error_code=exc.code)
                if row.attempts + 1 >= MAX_ATTEMPTS:
                    _move(connection, nid, "failed", f"provider unavailable {MAX_ATTEMPTS} times; given up", now)
                    return "failed"
                delay = min(1800.0, 10.0 * 2 ** row.attempts) * random.uniform(0.8, 1.2)
                connection.execute(update(staff_mail).where(staff_mail.c.notification_id == nid).values(
                    status="retry", reason=f"provider unavailable ({exc.code or 'no answer'})",
                    due_at=now + timedelta(seconds=delay), updated_at=now))
            return "retry"
        except ProviderRefused as exc:
            with self.engine.begin() as connection:
                ledger.record(connection, nid, "email", "failed", provider=provider.name, error_code=exc.code)
                _move(connection, nid, "failed", f"provider refused ({exc.code})", now)
            return "failed"
        except OutcomeUnknown as exc:
            with self.engine.begin() as connection:
                ledger.record(connection, nid, "email", "unknown", provider=provider.name,
                              error_code=exc.code or "timeout")
                _move(connection, nid, "unknown", f"outcome unknown ({exc.code or 'timeout'}); not resent", now)
            return "unknown"
        with self.engine.begin() as connection:
            ledger.record(connection, nid, "email", "sent", provider=provider.name, provider_message_id=provider_id)
            connection.execute(update(staff_mail).where(staff_mail.c.notification_id == nid).values(
                status="sent", reason=None, sent_at=now, updated_at=now))
        log.info("staff report mailed", extra={"notification_id": nid, "report_id": str(row.report_id)})
        return "sent"


def _move(connection: Connection, nid: str, status: str, reason: str | None, now: datetime) -> None:
    connection.execute(update(staff_mail).where(staff_mail.c.notification_id == nid).values(
        status=status, reason=reason[:200] if reason else None, updated_at=now))
