"""The dispatcher: sends what is due, inside its community's open windows, at a steady pace.

Every decision about one send (still wanted? opted out? over a cap?) is taken in the same
transaction as its ledger claim, right before the provider call, so a payment or an opt-out
that lands while a window's batch is going out still stops the sends not yet made.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine

from services.notifier import ledger, pending
from services.notifier.calendar import SendCalendar
from services.notifier.calendars import CalendarBook
from services.notifier.config import SendingRules
from services.notifier.gate import PendingSendGate, local, opening_after
from services.notifier.governor import ContactGovernor
from services.notifier.sending import ReminderSender
from shared.logs import bind_correlation_id, reset_correlation_id

log = logging.getLogger(__name__)
BATCH = 200
INTERRUPTED_AFTER = timedelta(minutes=10)  # far beyond any provider timeout


def utc_now() -> datetime:
    return datetime.now(UTC)


class Pacer:
    """At most `rate` provider calls a second, spread evenly (a window's batch, not a burst)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.interval = 1.0 / rate
        self.clock = clock
        self.next_at = 0.0

    def wait(self, stop: threading.Event | None = None) -> None:
        now = self.clock()
        delay = self.next_at - now
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
        self.next_at = max(now, self.next_at) + self.interval


class Dispatcher:
    def __init__(self, engine: Engine, sender: ReminderSender, book: CalendarBook, governor: ContactGovernor,
                 rules: SendingRules, clock: Callable[[], datetime] = utc_now, reconciler=None):
        self.engine = engine
        self.sender = sender
        self.book = book
        self.governor = governor
        self.rules = rules
        self.clock = clock
        self.reconciler = reconciler  # releases unknown sends nobody confirmed (reconcile.py)
        self.pacers = {channel: Pacer(rules.rate_per_second) for channel in sender.providers}
        self._wake = threading.Event()

    def wake(self) -> None:
        """Look for due sends now rather than at the next poll (a request due at once arrived)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Dispatch until `stop` is set; a failure only pauses it until the next poll."""
        while not stop.is_set():
            try:
                self.tick(stop)
            except Exception:
                log.exception("dispatching failed; will try again")
            deadline = time.monotonic() + self.rules.poll_seconds
            while not stop.is_set() and time.monotonic() < deadline:
                if self._wake.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                    break
            self._wake.clear()

    def tick(self, stop: threading.Event | None = None) -> Counter:
        """Send (or defer, or skip) everything due now; return the outcomes counted."""
        outcomes: Counter = Counter()
        now = self.clock()
        with self.engine.begin() as connection:
            outcomes["expired"] = pending.expire(connection, now)
            outcomes["interrupted"] = self._recover(connection, now)
            if self.reconciler is not None:
                outcomes["released"] = self.reconciler.release_unconfirmed(connection, now)
        calendars: dict[str | None, SendCalendar] = {}
        seen: set[tuple[str, str]] = set()
        while stop is None or not stop.is_set():
            with self.engine.connect() as connection:
                rows = [r for r in pending.due(connection, self.clock(), BATCH)
                        if (r.notification_id, r.channel) not in seen]
                for community in {r.community for r in rows} - set(calendars):
                    calendars[community] = self.book.for_community(connection, community)
            if not rows:
                break
            for row in rows:
                if stop is not None and stop.is_set():
                    break
                seen.add((row.notification_id, row.channel))
                outcomes[self._dispatch(row, calendars[row.community], stop)] += 1
        if any(outcomes.values()):
            log.info("dispatch tick", extra={k: v for k, v in outcomes.items() if v})
        return outcomes

    def _dispatch(self, row, calendar: SendCalendar, stop: threading.Event | None) -> str:
        now = self.clock()
        window = None
        if not self.rules.send_immediately:
            window = calendar.window_at(now)
            if window is None:
                # Late (the window closed while a backlog went out) or the calendar changed.
                later = opening_after(calendar, now)
                with self.engine.begin() as connection:
                    pending.defer_waiting(connection, pending.Key(row.notification_id, row.channel),
                                          f"outside send windows; next window {local(calendar, later)}",
                                          now, later)
                return "outside_window"
        if (held := self._circuit_open(row, calendar, now)) is not None:
            return held
        self.pacers[row.channel].wait(stop)
        token = bind_correlation_id(row.correlation_id)
        try:
            gate = PendingSendGate(row, calendar, window, self.governor, self.clock())
            outcome = self.sender.send_channel(row.notification_id, row.channel, json.loads(row.payload), gate)
            return gate.held or outcome
        finally:
            reset_correlation_id(token)

    def _circuit_open(self, row, calendar: SendCalendar, now: datetime) -> str | None:
        """Defer a send, untouched, while its provider's circuit is open (see breaker.py)."""
        provider = self.sender.providers[row.channel]
        wait = provider.retry_in() if hasattr(provider, "retry_in") else None
        if wait is None:
            return None
        until = now + timedelta(seconds=wait)
        with self.engine.begin() as connection:
            pending.defer_waiting(connection, pending.Key(row.notification_id, row.channel),
                                  f"{provider.name} circuit open until {until.astimezone(calendar.zone):%Y-%m-%d %H:%M:%S}",
                                  now, until)
        return "circuit_open"

    def _recover(self, connection: Connection, now: datetime) -> int:
        stuck = pending.interrupted(connection, now - INTERRUPTED_AFTER)
        for notification_id, channel in stuck:
            key = pending.Key(notification_id, channel)
            pending.move(connection, key, "unknown", "interrupted mid-send; reconcile before any resend", now)
            ledger.mark_interrupted(connection, notification_id, channel)
        return len(stuck)
