"""When a community lets us message its owners: send windows, quiet hours, days off.

Pure domain (standard library only). A send window opens at a configured local time and stays
open for a while (`window_minutes`), never past the next window's opening nor into quiet hours,
so a late batch never spills into the night. Public holidays come from a `DaysOff` source the
caller supplies (the `holidays` package in production); weekends count only when the community
skips them, and a weekend the state declares a working day (调休) is a working day.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_WINDOWS = ("09:30", "14:00", "19:30")
DEFAULT_QUIET = ("21:00", "08:00")
DEFAULT_HOLIDAYS = "CN"
DEFAULT_WINDOW_MINUTES = 90
SEARCH_DAYS = 60  # a calendar with no open window in two months is misconfigured


class NoSendWindow(ValueError):
    """The calendar never opens (every window falls in quiet hours or on a day off)."""


class DaysOff(Protocol):
    def is_holiday(self, calendar: str, day: date) -> bool: ...

    def is_working_weekend(self, calendar: str, day: date) -> bool: ...


class NoDaysOff:
    """Days off for a calendar that knows no holidays."""

    def is_holiday(self, calendar: str, day: date) -> bool:
        return False

    def is_working_weekend(self, calendar: str, day: date) -> bool:
        return False


def clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class CommunityCalendar:
    """What a community configured: its timezone, windows, quiet hours and days off."""

    timezone: str = DEFAULT_TIMEZONE
    send_windows: tuple[str, ...] = DEFAULT_WINDOWS
    quiet_start: str = DEFAULT_QUIET[0]
    quiet_end: str = DEFAULT_QUIET[1]
    holiday_calendar: str | None = DEFAULT_HOLIDAYS
    skip_weekends: bool = False


@dataclass(frozen=True)
class SendWindow:
    opens: datetime  # aware, UTC
    closes: datetime

    def contains(self, moment: datetime) -> bool:
        return self.opens <= moment < self.closes


@dataclass(frozen=True)
class SendCalendar:
    community: CommunityCalendar = field(default_factory=CommunityCalendar)
    days_off: DaysOff = field(default_factory=NoDaysOff)
    window_minutes: int = DEFAULT_WINDOW_MINUTES

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.community.timezone)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone).astimezone(UTC)

    def is_send_day(self, day: date) -> bool:
        c = self.community
        if c.holiday_calendar and self.days_off.is_holiday(c.holiday_calendar, day):
            return False
        if c.skip_weekends and day.weekday() >= 5:
            return bool(c.holiday_calendar) and self.days_off.is_working_weekend(c.holiday_calendar, day)
        return True

    def is_quiet(self, moment: datetime) -> bool:
        """True inside quiet hours, local time; quiet hours may run past midnight."""
        start, end = clock(self.community.quiet_start), clock(self.community.quiet_end)
        now = moment.astimezone(self.zone).time()
        if start == end:
            return False
        if start < end:
            return start <= now < end
        return now >= start or now < end

    def windows_on(self, day: date) -> list[SendWindow]:
        """The day's open windows in order; none on a day off or inside quiet hours."""
        if not self.is_send_day(day):
            return []
        opening = sorted({clock(text) for text in self.community.send_windows})
        opening = [t for t in opening if not self.is_quiet(self._at(day, t))]
        quiet_start = clock(self.community.quiet_start)
        windows = []
        for index, start in enumerate(opening):
            opens = self._local(day, start)
            limits = [opens + timedelta(minutes=self.window_minutes)]
            if index + 1 < len(opening):
                limits.append(self._local(day, opening[index + 1]))
            if quiet_start != clock(self.community.quiet_end):
                quiet_day = day if quiet_start > start else day + timedelta(days=1)
                limits.append(self._local(quiet_day, quiet_start))
            windows.append(SendWindow(opens.astimezone(UTC), min(limits).astimezone(UTC)))
        return windows

    def windows_from(self, moment: datetime) -> Iterator[SendWindow]:
        """Windows not yet closed at `moment`, the one open now first; raises if none ever opens."""
        day = self.local_day(moment)
        found = False
        for offset in range(-1, SEARCH_DAYS):
            for window in self.windows_on(day + timedelta(days=offset)):
                if window.closes > moment:
                    found = True
                    yield window
        if not found:
            raise NoSendWindow(f"no send window opens within {SEARCH_DAYS} days of {moment.isoformat()}")

    def window_at(self, moment: datetime) -> SendWindow | None:
        """The window open at `moment`, if any (never one in quiet hours or on a day off)."""
        if self.is_quiet(moment):
            return None
        return next((w for w in self.windows_on(self.local_day(moment)) if w.contains(moment)), None)

    def next_window(self, moment: datetime) -> SendWindow:
        """The window open at `moment`, else the next one to open."""
        return next(self.windows_from(moment))

    def next_day_window(self, moment: datetime) -> SendWindow:
        """The first window of the next send day after `moment`'s local day."""
        return self.next_window(self.day_start(self.local_day(moment) + timedelta(days=1)))

    def slot_window(self, send_on: date, slot: int, now: datetime) -> SendWindow:
        """Slot n goes in the n-th window still open, counting from the later of send_on and now.

        On a day off the slots move to the next send day; a request that arrives late moves
        its slots forward together, so several a day never bunch into one window.
        """
        windows = self.windows_from(max(self.day_start(send_on), now))
        window = next(windows)
        for _ in range(slot):
            window = next(windows)
        return window

    def _local(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, self.zone)

    def _at(self, day: date, at: time) -> datetime:
        return self._local(day, at).astimezone(UTC)
