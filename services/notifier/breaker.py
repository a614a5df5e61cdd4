"""A circuit breaker per provider: stop calling one that is down, try it again after a cool-down.

closed ──N consecutive failures within `window`──▶ open ──cool-down──▶ half-open (one trial call)
   ▲                                                 ▲                        │
   └──────────── the trial call succeeds ────────────┼──── the trial fails ───┘

Only failures that say the provider is unwell count: `ProviderUnavailable` (429, refused
connections, auth) and `OutcomeUnknown` (timeouts, 5xx). A refusal (21211, SendGrid 400) is the
provider answering properly and counts as a success. While the circuit is open a call raises
`CircuitOpen` without touching the network; the dispatcher asks `retry_in()` first and defers
the send with the reason, so nothing is claimed, counted or lost.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.notifier.providers import OutcomeUnknown, ProviderUnavailable
from shared.config import ConfigError

CIRCUIT_OPEN = "circuit_open"  # the error code a CircuitOpen carries
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitOpen(ProviderUnavailable):
    """Not attempted: the provider's circuit is open (nothing was sent)."""

    def __init__(self, provider: str, until: datetime):
        super().__init__(f"{provider} circuit open until {until.isoformat()}", CIRCUIT_OPEN)
        self.until = until


@dataclass(frozen=True)
class BreakerRules:
    failures: int = 5  # consecutive failures that open the circuit
    cooldown_seconds: float = 30.0  # how long it stays open before one trial call
    window_seconds: float = 60.0  # failures further apart than this do not add up


def load_breaker_rules(environ: Mapping[str, str] | None = None) -> BreakerRules:
    env = os.environ if environ is None else environ

    def number(name: str, default: str, kind, minimum: float):
        raw = env.get(name, "").strip() or default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, not {value}")
        return value

    return BreakerRules(
        failures=number("BREAKER_FAILURES", "5", int, 1),
        cooldown_seconds=number("BREAKER_COOLDOWN_SECONDS", "30", float, 0.01),
        window_seconds=number("BREAKER_WINDOW_SECONDS", "60", float, 0.01),
    )


@dataclass(frozen=True)
class BreakerState:
    provider: str
    state: str  # closed | open | half_open
    consecutive_failures: int
    open_until: datetime | None
    opened_total: int  # how often the circuit opened since the process started


class CircuitBreaker:
    """A provider (same `send` and `name`) that stops calling the real one while it is down."""

    def __init__(self, provider, rules: BreakerRules = BreakerRules(),
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.provider = provider
        self.rules = rules
        self.clock = clock
        self.wall_clock = wall_clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._first_failure_at = 0.0
        self._opened_at = 0.0
        self._trial_running = False
        self._opened_total = 0

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def batches(self) -> bool:
        return getattr(self.provider, "batches", False)

    def send(self, message) -> str:
        return self._call(self.provider.send, message)

    def send_batch(self, shape, emails) -> str:
        """One request for many emails (providers that batch): it counts as one call."""
        return self._call(self.provider.send_batch, shape, emails)

    def _call(self, send, *message) -> str:
        self._enter()
        try:
            provider_id = send(*message)
        except (ProviderUnavailable, OutcomeUnknown):
            self._failed()
            raise
        except Exception:
            self._succeeded()  # answered (a refusal): the provider is up
            raise
        self._succeeded()
        return provider_id

    def retry_in(self) -> float | None:
        """Seconds until a call may be tried, or None if one may be tried now."""
        with self._lock:
            return self._blocked_for(self.clock())

    def state(self) -> BreakerState:
        with self._lock:
            blocked = self._blocked_for(self.clock())
            state = self._state
            if state == OPEN and blocked is None:
                state = HALF_OPEN  # cool-down over: the next call is the trial
            until = None if blocked is None else self.wall_clock() + timedelta(seconds=blocked)
            return BreakerState(self.name, state, self._failures, until, self._opened_total)

    # --- inside the lock --------------------------------------------------------------------

    def _blocked_for(self, now: float) -> float | None:
        if self._state == CLOSED:
            return None
        remaining = self._opened_at + self.rules.cooldown_seconds - now
        if self._state == OPEN:
            return remaining if remaining > 0 else None
        # Half-open: while the one trial call is under way the others wait a cool-down.
        return self.rules.cooldown_seconds if self._trial_running else None

    def _enter(self) -> None:
        with self._lock:
            blocked = self._blocked_for(self.clock())
            if blocked is not None:
                raise CircuitOpen(self.name, self.wall_clock() + timedelta(seconds=blocked))
            if self._state != CLOSED:
                self._state, self._trial_running = HALF_OPEN, True

    def _failed(self) -> None:
        with self._lock:
            now = self.clock()
            if self._state == HALF_OPEN:
                self._open(now)
                return
            if self._failures == 0 or now - self._first_failure_at > self.rules.window_seconds:
                self._failures, self._first_failure_at = 0, now
            self._failures += 1
            if self._failures >= self.rules.failures:
                self._open(now)

    def _open(self, now: float) -> None:
        self._state, self._opened_at, self._trial_running = OPEN, now, False
        self._opened_total += 1

    def _succeeded(self) -> None:
        with self._lock:
            self._state, self._failures, self._trial_running = CLOSED, 0, False


def guarded(provider, rules: BreakerRules) -> CircuitBreaker:
    """Wrap a provider in its breaker once (a provider already guarded is kept as it is)."""
    return provider if isinstance(provider, CircuitBreaker) else CircuitBreaker(provider, rules)


def breaker_states(providers: Iterable) -> dict[str, dict]:
    """Each guarded provider's circuit, for ops (health pages, /metrics)."""
    states = {}
    for provider in providers:
        if isinstance(provider, CircuitBreaker):
            s = provider.state()
            states[s.provider] = {"state": s.state, "consecutive_failures": s.consecutive_failures,
                                  "open_until": s.open_until.isoformat() if s.open_until else None,
                                  "opened_total": s.opened_total}
    return states
