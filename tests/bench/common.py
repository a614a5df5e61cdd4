"""What every scenario shares: sizes, deadlines, realistic envelopes and the result row."""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Table, delete

from shared.envelope import Envelope, new_event

# A scenario that has not finished by then is stuck, not slow: fail instead of hanging `make bench`.
SCENARIO_SECONDS = 60.0
# How often a hot loop looks at its deadline; checking every message would cost measurable time.
CHECK_EVERY = 250
# What our consumer asks for (EventConsumer's default); the raw baseline uses the same.
PREFETCH = 32


class BenchError(RuntimeError):
    """A scenario could not run or did not finish; the message says why."""


def setting(name: str, default: int) -> int:
    """A positive integer from the environment, or BenchError naming the bad value."""
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise BenchError(f"{name} must be a positive integer, got {raw!r}")
    return value


class Deadline:
    def __init__(self, what: str, seconds: float | None = None):
        if seconds is None:
            seconds = setting("BENCH_SCENARIO_SECONDS", int(SCENARIO_SECONDS))
        self.what = what
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def check(self, done: int, total: int) -> None:
        if time.monotonic() >= self.at:
            raise BenchError(f"{self.what}: only {done} of {total} messages after {self.seconds:.0f}s")


def empty(engine: Engine, *tables: Table) -> None:
    """Delete every row, so each round starts from the same empty tables."""
    with engine.begin() as connection:
        for table in tables:
            connection.execute(delete(table))


@dataclass(frozen=True)
class Measurement:
    """One table row: `baseline` names the raw row it is compared with (None: it is one)."""

    key: str
    scenario: str
    messages: int
    seconds: float
    baseline: str | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("inf")


def reminder_requested(number: int) -> Envelope:
    """The event the daily escalation sweep stages for every overdue case."""
    return new_event("reminder.requested", {
        "notification_id": str(uuid.uuid4()),
        "case_id": f"case-{number:07d}",
        "stage": "formal_notice",
        "channels": ["sms", "email"],
        "recipient": {
            "owner_id": f"owner-{number:07d}",
            "name": "张伟",
            "phone": f"+86138{number:08d}",
            "email": f"owner{number}@example.com",
            "locale": "zh-CN",
        },
        "template": "formal_notice",
        "context": {"community": "翠湖花园", "unit": "3-2-1201", "amount_owed": "3846.50",
                    "months_overdue": 7, "pay_by": "2025-01-31"},
    })


def delivery_reported(number: int) -> Envelope:
    """A Twilio status callback as the gateway publishes it."""
    return new_event("delivery.reported", {
        "provider": "twilio",
        "channel": "sms",
        "provider_message_id": f"SM{uuid.uuid4().hex}",
        "notification_id": str(uuid.uuid4()),
        "status": "delivered",
        "error_code": None,
        "reported_at": datetime.now(UTC).isoformat(),
    })
