"""The dispatcher: sends what is due, inside its community's open windows, at a steady pace.

Every decision about one send (still wanted? opted out? over a cap?) is taken in the same
transaction as its ledger claim, right before the provider call, so a payment or an opt-out
that lands while a window's batch is going out still stops the sends not yet made.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine

from services.notifier import batch_gate, email_batch, ledger, pending
from services.notifier.calendar import SendCalendar
from services.notifier.calendars import CalendarBook
from services.notifier.config import SendingRules
from services.notifier.gate import PendingSendGate, local, opening_after
from services.notifier.governor import ContactGovernor
from services.notifier.group_commit import BackgroundCommit, GroupCommit
from services.notifier.providers import OutcomeUnknown, ProviderRefused, ProviderUnavailable
from services.notifier.sending import ReminderSender
from shared import metrics
from shared.config import ConfigError
from shared.logs import bind_correlation_id, reset_correlation_id

log = logging.getLogger(__name__)
BATCH = 1000  # due rows fetched at once; also the most sends one gate or settle transaction takes
INTERRUPTED_AFTER = timedelta(minutes=10)  # far beyond any provider timeout
# Gate transactions that may run at once: sends of one owner are never in two (one worker each),
# and across owners the row locks and advisory locks order them as across dispatchers.
ADMISSION_LANES = 1
HELD = frozenset({"cancelled", "skipped", "deferred"})  # what a gate says when a send may not go
CONCURRENCY = 32  # provider calls in flight at once: enough to hide ~50-200 ms of provider latency


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_concurrency(environ: Mapping[str, str] | None = None) -> int:
    """NOTIFIER_CONCURRENCY: how many provider calls the dispatcher keeps in flight."""
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFIER_CONCURRENCY", "").strip() or str(CONCURRENCY)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"NOTIFIER_CONCURRENCY must be a number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"NOTIFIER_CONCURRENCY must be at least 1, not {value}")
    return value


class Pacer:
    """At most `rate` provider calls a second, spread evenly (a window's batch, not a burst)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.interval = 1.0 / rate
        self.clock = clock
        self.next_at = 0.0
        self._lock = threading.Lock()  # workers share one pacer per channel

    def wait(self, stop: threading.Event | None = None) -> None:
        # Take the next slot under the lock, sleep until it outside: each worker waits its own turn.
        with self._lock:
            now = self.clock()
            slot = max(now, self.next_at)
            self.next_at = slot + self.interval
        delay = slot - now
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)


class SlowStart:
    """How many sends may be under way: one at first and after any failure, twice as many after each success.

    A provider that is down gets one call at a time, as before there was concurrency, so its breaker
    opens after the same calls and a half-open trial goes out alone; a healthy one has `ceiling`
    calls in flight after a handful of answers.
    """

    GROWS = frozenset({"sent", "failed"})  # the provider answered (a refusal is an answer)
    SHRINKS = frozenset({"unknown", "retry", "circuit_open"})

    def __init__(self, ceiling: int):
        self.ceiling = ceiling
        self.limit = 1
        self.in_flight = 0
        self._changed = threading.Condition()

    def acquire(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    def release(self, outcome: str | None) -> None:
        """Give the slot back; `outcome` None means the send failed with an exception."""
        with self._changed:
            self.in_flight -= 1
            if outcome is None or outcome in self.SHRINKS:
                self.limit = 1
            elif outcome in self.GROWS:
                self.limit = min(self.ceiling, self.limit * 2)
            self._changed.notify_all()


class Dispatcher:
    def __init__(self, engine: Engine, sender: ReminderSender, book: CalendarBook, governor: ContactGovernor,
                 rules: SendingRules, clock: Callable[[], datetime] = utc_now, reconciler=None,
                 concurrency: int = 1):
        self.engine = engine
        # Workers each send one owner's due sends in order; the engine's pool must hold one
        # connection per worker plus the dispatcher's own (bootstrap sizes it).
        self.concurrency = concurrency
        self.sender = sender
        self.book = book
        self.governor = governor
        self.rules = rules
        self.clock = clock
        self.reconciler = reconciler  # releases unknown sends nobody confirmed (reconcile.py)
        self.pacers = {channel: Pacer(rules.rate_per_second) for channel in sender.providers}
        self._wake = threading.Event()
        # Workers' gate checks and settlements that arrive together share one transaction (group_commit.py).
        self._admissions = GroupCommit(engine, batch_gate.admit_committed, largest=BATCH, lanes=ADMISSION_LANES,
                                       prepare=batch_gate.autocommitted)
        self._settler: BackgroundCommit | None = None  # during a tick

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
        slots = SlowStart(self.concurrency)  # kept from batch to batch: no ramp-up after each one
        # Settlements are committed behind the workers, which go on to their next send meanwhile.
        self._settler = BackgroundCommit(self.engine, self._settle_all, BATCH, "settle")
        try:
            while stop is None or not stop.is_set():
                with self.engine.connect() as connection:
                    rows = [r for r in pending.due(connection, self.clock(), max(BATCH, 8 * self.concurrency))
                            if (r.notification_id, r.channel) not in seen]
                    for community in {r.community for r in rows} - set(calendars):
                        calendars[community] = self.book.for_community(connection, community)
                if not rows:
                    break
                seen.update((r.notification_id, r.channel) for r in rows)
                if getattr(self.sender.providers["email"], "batches", False):
                    # Emails first, many to a request (email_batch.py); then the rest, one call each.
                    outcomes.update(self._dispatch_emails([r for r in rows if r.channel == "email"],
                                                          calendars, stop))
                    rows = [r for r in rows if r.channel != "email"]
                outcomes.update(self._dispatch_all(rows, calendars, stop, slots))
        finally:
            settler, self._settler = self._settler, None
            settler.close()  # every outcome of this tick is recorded before it returns
            self._admissions.release()
        if any(outcomes.values()):
            log.info("dispatch tick", extra={k: v for k, v in outcomes.items() if v})
        return outcomes

    def _dispatch_all(self, rows: list, calendars: dict, stop: threading.Event | None,
                      slots: SlowStart | None = None) -> Counter:
        """Dispatch a batch with up to `concurrency` provider calls in flight.

        One owner's sends stay on one worker, in due order: the governor weighs them one after
        the other exactly as a single loop would, and workers never queue on one owner's lock.
        Every send still passes its own gate and ledger claim right before its own call.
        """
        by_owner: dict[str, list] = defaultdict(list)
        for row in rows:
            by_owner[row.owner_id].append(row)

        slots = slots or SlowStart(self.concurrency)

        def send_in_order(owner_rows: list) -> Counter:
            done: Counter = Counter()
            for row in owner_rows:
                slots.acquire()
                outcome = None
                try:
                    if stop is not None and stop.is_set():
                        outcome = "stopped"  # neither an answer nor a failure: the limit stays
                        break
                    outcome = self._dispatch(row, calendars[row.community], stop)
                finally:
                    slots.release(outcome)
                done[outcome] += 1
            return done

        outcomes: Counter = Counter()
        if self.concurrency <= 1 or len(by_owner) <= 1:
            for owner_rows in by_owner.values():
                outcomes.update(send_in_order(owner_rows))
            return outcomes
        with ThreadPoolExecutor(min(self.concurrency, len(by_owner)), thread_name_prefix="dispatch") as pool:
            futures = [pool.submit(send_in_order, owner_rows) for owner_rows in by_owner.values()]
            for future in futures:
                outcomes.update(future.result())  # a failure surfaces once the batch has settled
        return outcomes

    def _dispatch(self, row, calendar: SendCalendar, stop: threading.Event | None) -> str:
        now = self.clock()
        window, held = self._window(row, calendar, now)
        if held is not None:
            return held
        self.pacers[row.channel].wait(stop)
        token = bind_correlation_id(row.correlation_id)
        try:
            gate = PendingSendGate(row, calendar, window, self.governor, self.clock())
            admission = self._admissions.submit(gate)  # cancelled? opted out? over a cap? claimed.
            if admission.held is not None:
                if gate.held is None or admission.held not in HELD:
                    log.info("send already handled", extra={"notification_id": row.notification_id,
                                                            "channel": row.channel, "status": admission.held})
                return admission.held
            try:
                return self.sender.call(row.notification_id, row.channel, json.loads(row.payload), gate,
                                        self._settle, admission.wording_seen)
            except ProviderUnavailable:
                return "retry"
        finally:
            reset_correlation_id(token)

    def _window(self, row, calendar: SendCalendar, now: datetime):
        """The open window a send goes in (None when sending immediately), or why it waits."""
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
                metrics.record_deferral("outside_window")  # /metrics (ops)
                return None, "outside_window"
        return window, self._circuit_open(row, calendar, now)

    def _dispatch_emails(self, rows: list, calendars: dict, stop: threading.Event | None) -> Counter:
        """Emails through one gate transaction and as few requests as their content allows, 1,000 at a time."""
        outcomes: Counter = Counter()
        for start in range(0, len(rows), email_batch.MAX_PERSONALIZATIONS):
            if stop is not None and stop.is_set():
                break
            now = self.clock()
            gates = []
            for row in rows[start:start + email_batch.MAX_PERSONALIZATIONS]:
                window, held = self._window(row, calendars[row.community], now)
                if held is not None:
                    outcomes[held] += 1
                else:
                    gates.append(PendingSendGate(row, calendars[row.community], window, self.governor, self.clock()))
            if not gates:
                continue
            with self.engine.begin() as connection:
                admissions = batch_gate.admit_all(connection, gates)  # right before the calls below
            going = []
            for gate, admission in zip(gates, admissions, strict=True):
                if admission.held is not None:
                    outcomes[admission.held] += 1
                    continue
                p = json.loads(gate.row.payload)
                try:
                    going.append((gate, p, *email_batch.addressed(
                        self.sender.composer, gate.row.notification_id, p, admission.wording_seen)))
                except Exception:
                    # As when one send fails between its claim and its call: it stays claimed and is
                    # recovered as unknown (dispatcher._recover); the rest of the batch goes on.
                    log.exception("could not compose an email; left claimed",
                                  extra={"notification_id": gate.row.notification_id})
                    outcomes["error"] += 1
            by_email = {id(one): (gate, p) for gate, p, one, _shape in going}
            for batch in email_batch.batches((one, shape) for _gate, _p, one, shape in going):
                self.pacers["email"].wait(stop)
                members = [(*by_email[id(one)], one) for one in batch.emails]
                if batch.shape is None or len(members) == 1:
                    for gate, p, one in members:
                        outcomes[self._send_email_alone(gate, p, one)] += 1
                else:
                    outcomes.update(self._send_email_batch(batch, members))
        return outcomes

    def _send_email_alone(self, gate: PendingSendGate, p: dict, one) -> str:
        token = bind_correlation_id(gate.row.correlation_id)
        try:
            return self.sender.deliver(gate.row.notification_id, "email", p, gate, self._settle, one.email)
        except ProviderUnavailable:
            return "retry"
        finally:
            reset_correlation_id(token)

    def _send_email_batch(self, batch, members: list) -> Counter:
        """One request for the batch; every row settled with its answer (X-Message-Id, or the failure)."""
        provider = self.sender.providers["email"]
        try:
            message_id = provider.send_batch(batch.shape, batch.emails)
        except ProviderUnavailable as exc:  # nothing sent (429, refused connection, circuit open)
            for gate, _p, one in members:
                self._settle(gate, one.email.notification_id, "email", "retry", error_code=exc.code)
            return Counter({"retry": len(members)})
        except ProviderRefused as exc:
            # SendGrid refused the whole request (400) and sent none of it: each email goes alone,
            # so only the one at fault fails (and is reported), the others go out.
            log.warning("email batch refused; sending its emails one by one",
                        extra={"emails": len(members), "error_code": exc.code})
            return Counter(self._send_email_alone(gate, p, one) for gate, p, one in members)
        except OutcomeUnknown as exc:  # may have gone out: reconciled, never resent blindly
            log.warning("email batch outcome unknown; not repeating", extra={"emails": len(members)})
            for gate, _p, one in members:
                self._settle(gate, one.email.notification_id, "email", "unknown", provider.name,
                             error_code=exc.code or "timeout")
            return Counter({"unknown": len(members)})
        for gate, p, one in members:
            self._settle(gate, one.email.notification_id, "email", "sent", provider.name, p,
                         provider_message_id=message_id)
        log.info("email batch sent", extra={"emails": len(members), "provider_message_id": message_id})
        return Counter({"sent": len(members)})

    def _settle(self, gate: PendingSendGate, notification_id: str, channel: str, status: str,
                provider: str | None = None, p: dict | None = None, **fields) -> None:
        settlement = batch_gate.Settlement(gate, notification_id, channel, status, provider, p, fields)
        metrics.record_send(channel, self.sender.providers.get(channel, provider), status)  # /metrics (ops)
        if self._settler is not None:
            self._settler.put(settlement)
        else:
            with self.engine.begin() as connection:
                self._settle_all(connection, [settlement])

    def _settle_all(self, connection: Connection, settlements: list) -> None:
        batch_gate.settle_all(connection, self.sender, settlements)

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
        metrics.record_deferral("circuit_open", provider)  # /metrics (ops), with the circuit's state
        return "circuit_open"

    def _recover(self, connection: Connection, now: datetime) -> int:
        stuck = pending.interrupted(connection, now - INTERRUPTED_AFTER)
        for notification_id, channel in stuck:
            key = pending.Key(notification_id, channel)
            pending.move(connection, key, "unknown", "interrupted mid-send; reconcile before any resend", now)
            ledger.mark_interrupted(connection, notification_id, channel)
        return len(stuck)
