"""The checks a waiting send passes right before its provider call, and how it is settled.

They run in the claim transaction (see sending.ReminderSender), so whatever cancelled,
suppressed or capped the send up to that instant is seen.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import Connection

from services.notifier import pending, suppression
from services.notifier.calendar import NoSendWindow, SendCalendar, SendWindow
from services.notifier.governor import NEXT_WINDOW, ContactGovernor
from services.notifier.sending import ALREADY_HANDLED
from shared import metrics


def local(calendar: SendCalendar, moment: datetime) -> str:
    return moment.astimezone(calendar.zone).strftime("%Y-%m-%d %H:%M")


def opening_after(calendar: SendCalendar, moment: datetime, next_day: bool = False) -> datetime:
    """When the next window opens (or the next send day's first); a day on if the calendar never opens."""
    try:
        window = calendar.next_day_window(moment) if next_day else calendar.next_window(moment)
    except NoSendWindow:
        return moment + timedelta(days=1)
    return window.opens


class PendingSendGate:
    """The checks one pending send passes in its claim transaction, and how it is settled."""

    def __init__(self, row, calendar: SendCalendar, window: SendWindow | None, governor: ContactGovernor,
                 now: datetime):
        self.row = row
        self.key = pending.Key(row.notification_id, row.channel)
        self.calendar = calendar
        self.window = window
        self.governor = governor
        self.now = now
        self.held: str | None = None  # why admit said no: cancelled, skipped or deferred

    def admit(self, connection: Connection) -> bool:
        row, key, now = self.row, self.key, self.now
        if not pending.claim(connection, key, now):
            self.held = "cancelled"
            return False  # cancelled (payment, promise, opt-out...) since it was picked
        source = suppression.suppressed_by(connection, row.channel, row.address)
        if source is not None:
            pending.move(connection, key, "skipped", f"suppressed: opted out of {row.channel} ({source})", now)
            self.held = "skipped"
            return False
        pending.lock_owner(connection, row.owner_id)
        history = pending.history(connection, key, row.owner_id, row.community, self.calendar, self.window, now)
        verdict = self.governor.judge(row.channel, history)
        if not verdict.allowed:
            later = self._later(verdict.wait_for)
            pending.move(connection, key, "deferred",
                         f"{verdict.reason}; next try {local(self.calendar, later)}", now, due_at=later)
            self.held = "deferred"
            metrics.record_deferral(verdict.reason)  # /metrics (ops)
            return False
        pending.admit(connection, key, now)
        return True

    def _later(self, wait_for: str | None) -> datetime:
        if wait_for == NEXT_WINDOW:
            if self.window is None:
                return self.now + timedelta(minutes=1)
            return opening_after(self.calendar, self.window.closes)
        return opening_after(self.calendar, self.now, next_day=True)

    def settle(self, connection: Connection, status: str, error_code: str | None) -> None:
        key, now = self.key, self.now
        if status == "retry":
            attempts = self.row.attempts + 1
            delay = min(300.0, 5.0 * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
            pending.move(connection, key, "pending", f"provider unavailable ({error_code or 'no answer'}); "
                         f"retry {attempts}", now, due_at=now + timedelta(seconds=delay))
        elif error_code == ALREADY_HANDLED:
            pending.move(connection, key, status, "already handled by the send ledger", now)
        elif status == "failed":
            pending.move(connection, key, "failed", f"provider refused ({error_code})", now)
        elif status == "unknown":
            pending.move(connection, key, "unknown",
                         f"outcome unknown ({error_code}); reconcile before any resend", now)
        else:
            pending.move(connection, key, status, None, now)
