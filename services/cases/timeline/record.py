"""A case's record: its entries on the community's clock, in plain JSON values."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

DAY_ONLY_ORDER = ("payment", "promise_resolved", "stage_entered")


@dataclass(frozen=True)
class Entry:
    on: date  # the community's local day
    at: datetime | None  # None: only the day is known
    kind: str
    detail: dict  # plain JSON values: strings, numbers, None

    def sort_key(self) -> tuple:
        if self.at is None:
            return self.on, 0, DAY_ONLY_ORDER.index(self.kind), 0.0
        return self.on, 1, 0, self.at.timestamp()


@dataclass(frozen=True)
class CaseRecord:
    case: dict
    owner: dict
    contacts: list[dict]
    units: list[dict]
    community: dict
    entries: list[Entry]


def plain(value):
    """A JSON-ready form of a database value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class CommunityClock:
    """Make entries that read on the community's local day and time."""

    def __init__(self, timezone: str):
        self.zone = ZoneInfo(timezone)

    def timed(self, at: datetime, kind: str, /, **detail) -> Entry:
        local = at.astimezone(self.zone)
        return Entry(local.date(), local, kind, self._plain(detail))

    def dated(self, on: date, kind: str, /, **detail) -> Entry:
        return Entry(on, None, kind, self._plain(detail))

    def _plain(self, detail: dict) -> dict:
        return plain({k: v.astimezone(self.zone) if isinstance(v, datetime) else v for k, v in detail.items()})
