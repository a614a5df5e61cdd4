"""Answers to what an owner sent us (autoreply.requested): once per (reply, kind), ever.

An auto-reply does not wait for a reminder send window: it goes at once, unless it is quiet hours
in the community (it then waits for them to end, the reason on the row) or the contact governor
says no (deferred to the next local day, the reason on the row). One that could not go out within
`AUTOREPLY_EXPIRES_HOURS` (12) expires with the reason: a "which day?" next week is worse than none.

Opted-out addresses get nothing, except the opt-out confirmation, which they get once per opt-out
(until they opt in again); an opt-in confirmation is not stopped by the opt-out it reverses. With
no owner known, caps count against the address. The provider call goes through the send ledger
like a reminder (one ledger row, never twice), and a sent auto-reply is written to pending_sends
as `sent` so the reminders' governor counts it too and the owner's outbox shows it.
"""
from __future__ import annotations

import json
import logging
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier import ledger, pending, suppression
from services.notifier.calendar import SendCalendar, clock
from services.notifier.calendars import CalendarBook
from services.notifier.config import SendingRules
from services.notifier.governor import ContactGovernor
from services.notifier.providers import Email, OutcomeUnknown, ProviderRefused, ProviderUnavailable, Sms
from services.notifier.tables import auto_replies, opt_out_confirmations, pending_sends, suppressions
from services.notifier.templates import auto_replies as wording
from shared.config import ConfigError
from shared.envelope import Envelope
from shared.logs import bind_correlation_id, reset_correlation_id
from shared.reply_address import ReplyRoute, reply_address

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("6f1d7c3e-2b8a-4e0f-9d51-a7c4e2f08b36")
WAITING = ("queued", "deferred")
INTERRUPTED_AFTER = timedelta(minutes=10)
BATCH = 100


def notification_id(reply_id: str, kind: str) -> str:
    """The auto-reply's notification id: the same for the same (reply, kind), however often asked."""
    return str(uuid.uuid5(NAMESPACE, f"{reply_id}:{kind}"))


def address_key(channel: str, address: str) -> str:
    """Who the governor counts when cases does not know the sender: the address itself."""
    return str(uuid.uuid5(NAMESPACE, f"{channel}:{address}"))


def expires_after(environ: Mapping[str, str] | None = None) -> timedelta:
    """AUTOREPLY_EXPIRES_HOURS: how long an auto-reply may wait before it is dropped (default 12)."""
    raw = (os.environ if environ is None else environ).get("AUTOREPLY_EXPIRES_HOURS", "").strip() or "12"
    try:
        hours = float(raw)
    except ValueError:
        raise ConfigError(f"AUTOREPLY_EXPIRES_HOURS must be a number, not {raw!r}") from None
    if hours <= 0:
        raise ConfigError(f"AUTOREPLY_EXPIRES_HOURS must be more than 0, not {hours}")
    return timedelta(hours=hours)


def _insert(connection: Connection):
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def accept(connection: Connection, p: dict, event: Envelope, now: datetime, lifetime: timedelta) -> bool:
    """Keep an auto-reply to send, once per (reply, kind); False if it was kept before."""
    kind, channel = p["kind"], p["channel"]
    nid = notification_id(str(p["reply_id"]), kind)
    if connection.execute(select(auto_replies.c.status).where(auto_replies.c.notification_id == nid)).first():
        return False
    address = suppression.normalise(channel, p["address"])
    status, reason = "queued", None
    if kind == "faq_answer" and not str((p.get("context") or {}).get("answer") or "").strip():
        status, reason = "skipped", "no answer to send (context.answer is empty)"
    elif kind == "opt_out_confirmed":
        first = connection.execute(
            _insert(connection)(opt_out_confirmations)
            .values(channel=channel, address=address, reply_id=str(p["reply_id"]), confirmed_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "address"])
            .returning(opt_out_confirmations.c.channel)
        ).first()
        if first is None:
            status, reason = "skipped", "this opt-out was confirmed already"
    owner_id = p.get("owner_id")
    body = json.dumps({**p, "reply_id": str(p["reply_id"])}, ensure_ascii=False, default=str)
    inserted = connection.execute(_insert(connection)(auto_replies).values(
        notification_id=nid, reply_id=str(p["reply_id"]), kind=kind, channel=channel, address=address,
        locale=p.get("locale") or "zh-CN", owner_id=owner_id, case_id=p.get("case_id"),
        community=p.get("community"), governed_as=owner_id or address_key(channel, address), payload=body,
        correlation_id=event.correlation_id, status=status, reason=reason, attempts=0,
        requested_at=event.occurred_at, due_at=now, expires_at=event.occurred_at + lifetime,
        created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["notification_id"]).returning(auto_replies.c.notification_id)).first()
    return inserted is not None


def forget_opt_out_confirmation(connection: Connection, channel: str, address: str) -> None:
    """An opt-in: the next opt-out gets its own confirmation."""
    connection.execute(opt_out_confirmations.delete().where(
        opt_out_confirmations.c.channel == channel,
        opt_out_confirmations.c.address == suppression.normalise(channel, address)))


def confirm_by_report(connection: Connection, nid: str, now: datetime) -> bool:
    """An auto-reply whose outcome was unknown went out after all: a provider reported on it."""
    return connection.execute(
        update(auto_replies).where(auto_replies.c.notification_id == nid, auto_replies.c.status == "unknown")
        .values(status="sent", reason="outcome was unknown; confirmed by the provider's report", updated_at=now)
    ).rowcount == 1


def quiet_until(calendar: SendCalendar, moment: datetime) -> datetime:
    """When the quiet hours around `moment` end."""
    end = clock(calendar.community.quiet_end)
    local = moment.astimezone(calendar.zone)
    candidate = datetime.combine(local.date(), end, calendar.zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, calendar.zone)
    return candidate.astimezone(moment.tzinfo)


class AutoReplies:
    """Sends the auto-replies that are due; run by the worker's prompt-send loop."""

    def __init__(self, engine: Engine, providers: Mapping, composer, book: CalendarBook, governor: ContactGovernor,
                 rules: SendingRules, clock: Callable[[], datetime], pacers: Mapping | None = None):
        self.engine = engine
        # The dispatcher's pacers: reminders and auto-replies share each provider's rate limit.
        self.pacers = pacers or {}
        self.providers = providers
        self.composer = composer  # the Reply-To secret and domain, the gateway URL for status callbacks
        self.book = book
        self.governor = governor
        self.rules = rules
        self.clock = clock

    def send_due(self) -> Counter:
        outcomes: Counter = Counter()
        now = self.clock()
        with self.engine.begin() as connection:
            outcomes["expired"] = connection.execute(
                update(auto_replies).where(auto_replies.c.status.in_(WAITING), auto_replies.c.expires_at <= now)
                .values(status="expired", reason="expired: it could not go out in time", updated_at=now)
            ).rowcount
            stuck = connection.execute(select(auto_replies.c.notification_id, auto_replies.c.channel).where(
                auto_replies.c.status == "sending", auto_replies.c.updated_at < now - INTERRUPTED_AFTER)).all()
            for nid, channel in stuck:
                self._move(connection, nid, "unknown", "interrupted mid-send; not resent", now)
                ledger.mark_interrupted(connection, nid, channel)
            outcomes["interrupted"] = len(stuck)
        seen: set[str] = set()
        while True:  # a burst (many STOPs at once) goes out now, not a batch per poll
            with self.engine.connect() as connection:
                due = [r for r in connection.execute(
                    select(auto_replies).where(auto_replies.c.status.in_(WAITING), auto_replies.c.due_at <= now)
                    .order_by(auto_replies.c.due_at, auto_replies.c.notification_id).limit(BATCH)
                ).all() if r.notification_id not in seen]
            if not due:
                return +outcomes
            for row in due:
                seen.add(row.notification_id)
                token = bind_correlation_id(row.correlation_id)
                try:
                    outcomes[self._send(row)] += 1
                finally:
                    reset_correlation_id(token)

    def _send(self, row) -> str:
        now = self.clock()
        with self.engine.begin() as connection:
            held = self._admit(connection, row, now)
            if held is not None:
                return held
            claim = ledger.claim(connection, row.notification_id, row.channel, row.case_id or "", row.governed_as)
            if not claim.granted:
                self._move(connection, row.notification_id, claim.status, "already handled by the send ledger", now)
                return claim.status
        provider = self.providers[row.channel]
        if (pacer := self.pacers.get(row.channel)) is not None:
            pacer.wait()
        try:
            provider_id = provider.send(self._message(row))
        except ProviderUnavailable as exc:
            delay = min(300.0, 5.0 * 2 ** row.attempts) * random.uniform(0.8, 1.2)
            with self.engine.begin() as connection:
                ledger.record(connection, row.notification_id, row.channel, "retry", error_code=exc.code)
                self._later(connection, row, f"provider unavailable ({exc.code or 'no answer'})",
                            now + timedelta(seconds=delay), now)
            return "retry"
        except ProviderRefused as exc:
            with self.engine.begin() as connection:
                ledger.record(connection, row.notification_id, row.channel, "failed", provider=provider.name,
                              error_code=exc.code)
                self._move(connection, row.notification_id, "failed", f"provider refused ({exc.code})", now)
                if exc.code in suppression.OPT_OUT_CODES:
                    suppression.change(connection, row.channel, row.address, True, f"provider_{exc.code}", now, now)
            return "failed"
        except OutcomeUnknown as exc:
            with self.engine.begin() as connection:
                ledger.record(connection, row.notification_id, row.channel, "unknown", provider=provider.name,
                              error_code=exc.code or "timeout")
                self._move(connection, row.notification_id, "unknown",
                           f"outcome unknown ({exc.code or 'timeout'}); not resent", now)
            return "unknown"
        with self.engine.begin() as connection:
            ledger.record(connection, row.notification_id, row.channel, "sent", provider=provider.name,
                          provider_message_id=provider_id)
            self._move(connection, row.notification_id, "sent", None, now)
            self._count_for_reminders(connection, row, now)
        log.info("auto-reply sent", extra={"notification_id": row.notification_id, "kind": row.kind,
                                           "channel": row.channel, "provider": provider.name})
        return "sent"

    def _admit(self, connection: Connection, row, now: datetime) -> str | None:
        """Claim a due row and pass its checks; the outcome when it may not go now, else None."""
        claimed = connection.execute(
            update(auto_replies).where(auto_replies.c.notification_id == row.notification_id,
                                       auto_replies.c.status.in_(WAITING), auto_replies.c.due_at <= now)
            .values(status="sending", updated_at=now)
        ).rowcount
        if not claimed:
            return "taken"
        calendar = self.book.for_community(connection, row.community)
        if not self.rules.send_immediately and calendar.is_quiet(now):
            later = quiet_until(calendar, now)
            return self._later(connection, row, f"quiet hours until {later.astimezone(calendar.zone):%H:%M}",
                               later, now)
        opted_out = self._opted_out(connection, row)
        if opted_out:
            self._move(connection, row.notification_id, "skipped", opted_out, now)
            return "skipped"
        pending.lock_owner(connection, row.governed_as)
        history = pending.history(connection, pending.Key(row.notification_id, row.channel), row.governed_as,
                                  row.community, calendar, None, now)
        verdict = self.governor.judge(row.channel, history)
        if not verdict.allowed:
            later = calendar.day_start(calendar.local_day(now) + timedelta(days=1))
            if not self.rules.send_immediately and calendar.is_quiet(later):
                later = quiet_until(calendar, later)
            return self._later(connection, row, verdict.reason or "over a cap", later, now)
        connection.execute(update(auto_replies).where(auto_replies.c.notification_id == row.notification_id)
                           .values(sent_at=now, reason=None, attempts=auto_replies.c.attempts + 1, updated_at=now))
        return None

    def _opted_out(self, connection: Connection, row) -> str | None:
        """Why an opted-out address gets nothing, or None."""
        if row.kind == "opt_out_confirmed":
            return None
        found = connection.execute(select(suppressions.c.source, suppressions.c.changed_at).where(
            suppressions.c.channel == row.channel, suppressions.c.address == row.address,
            suppressions.c.suppressed.is_(True))).first()
        if found is None:
            return None
        if row.kind == "opt_in_confirmed" and found.changed_at <= row.requested_at:
            return None  # the opt-out this opt-in reverses; its suppression.changed is on its way
        return f"suppressed: opted out of {row.channel} ({found.source})"

    def _later(self, connection: Connection, row, reason: str, later: datetime, now: datetime) -> str:
        if later > row.expires_at:
            self._move(connection, row.notification_id, "expired",
                       f"expired: {reason}; could not go out before {row.expires_at:%Y-%m-%d %H:%M} UTC", now)
            return "expired"
        connection.execute(update(auto_replies).where(auto_replies.c.notification_id == row.notification_id).values(
            status="deferred", reason=f"{reason}; next try {later:%Y-%m-%d %H:%M} UTC"[:200], due_at=later,
            sent_at=None, updated_at=now))
        return "deferred"

    def _move(self, connection: Connection, nid: str, status: str, reason: str | None, now: datetime) -> None:
        connection.execute(update(auto_replies).where(auto_replies.c.notification_id == nid).values(
            status=status, reason=reason[:200] if reason else None, updated_at=now))

    def _count_for_reminders(self, connection: Connection, row, now: datetime) -> None:
        """Write the sent auto-reply where the reminders' governor counts (and the outbox shows) sends."""
        connection.execute(_insert(connection)(pending_sends).values(
            notification_id=row.notification_id, channel=row.channel, case_id=row.case_id or "",
            owner_id=row.governed_as, community=row.community, slot=0, template=row.kind, address=row.address,
            payload=row.payload, correlation_id=row.correlation_id, requested_at=row.requested_at, due_at=row.due_at,
            expires_at=row.expires_at, status="sent", reason="auto-reply", attempts=row.attempts + 1,
            sent_at=now, created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["notification_id", "channel"]))

    def _message(self, row) -> Sms | Email:
        context = json.loads(row.payload).get("context") or {}
        if row.channel == "sms":
            callback = f"{self.composer.gateway_public_url}/webhooks/twilio/status?n={row.notification_id}"
            return Sms(row.address, wording.render_sms(row.kind, row.locale, context), callback)
        subject, text, html = wording.render_email(row.kind, row.locale, context)
        reply_to = None
        if row.owner_id:  # a reply to this one finds the owner again
            reply_to = reply_address(self.composer.secret_key, self.composer.reply_domain,
                                     ReplyRoute(row.owner_id, row.notification_id))
        return Email(row.address, subject, text, row.notification_id, html=html, reply_to=reply_to)


def outbox_rows(connection: Connection, owner_id: str, communities: tuple[str, ...] | None) -> list[dict]:
    """An owner's auto-replies not yet in pending_sends (everything but the sent ones), for the outbox."""
    query = select(auto_replies).where(auto_replies.c.owner_id == owner_id, auto_replies.c.status != "sent")
    if communities is not None:
        query = query.where(auto_replies.c.community.in_(communities))
    rows = connection.execute(query.order_by(auto_replies.c.due_at.desc()).limit(200)).all()
    return [{"notification_id": r.notification_id, "channel": r.channel, "case_id": r.case_id,
             "community": r.community, "slot": 0, "template": r.kind, "status": r.status, "reason": r.reason,
             "requested_at": r.requested_at, "due_at": r.due_at, "sent_at": r.sent_at, "expires_at": r.expires_at,
             "attempts": r.attempts, "updated_at": r.updated_at, "kind": "auto_reply"} for r in rows]

