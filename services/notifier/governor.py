"""The contact governor: how often one owner, and one community, may be messaged.

Pure domain (standard library only). The caller counts what already went out (or is on its
way) and asks for a verdict before each provider call; a send over a cap is deferred with
its reason, never dropped.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

NEXT_WINDOW = "next_window"
NEXT_DAY = "next_day"


def _per_day() -> dict[str, int]:
    return {"sms": 2, "email": 1}


def _per_week() -> dict[str, int]:
    return {"sms": 6, "email": 7}


@dataclass(frozen=True)
class Caps:
    per_day: Mapping[str, int] = field(default_factory=_per_day)  # per owner and channel, local day
    per_week: Mapping[str, int] = field(default_factory=_per_week)  # per owner and channel, rolling 7 days
    messages_per_day: int = 3  # per owner, all channels together
    community_per_day: int = 5000  # the community's daily budget, all channels


@dataclass(frozen=True)
class ContactHistory:
    """Sends already made or under way, as counted by the caller."""

    today: Mapping[str, int] = field(default_factory=dict)  # owner, per channel, local day
    week: Mapping[str, int] = field(default_factory=dict)  # owner, per channel, last 7 days
    this_window: Mapping[str, int] = field(default_factory=dict)  # owner, per channel, current window
    community_today: int = 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None
    wait_for: str | None = None  # NEXT_WINDOW or NEXT_DAY when not allowed

    @classmethod
    def go(cls) -> Verdict:
        return cls(True)


class ContactGovernor:
    def __init__(self, caps: Caps | None = None):
        self.caps = caps or Caps()

    def judge(self, channel: str, history: ContactHistory) -> Verdict:
        """May one more message go to this owner by this channel now?"""
        caps = self.caps
        if history.this_window.get(channel, 0) >= 1:
            return Verdict(False, f"{channel} already sent to this owner in this window", NEXT_WINDOW)
        day_cap = caps.per_day.get(channel, 0)
        if history.today.get(channel, 0) >= day_cap:
            return Verdict(False, f"{channel} cap of {day_cap} a day reached", NEXT_DAY)
        if sum(history.today.values()) >= caps.messages_per_day:
            return Verdict(False, f"cap of {caps.messages_per_day} messages a day across channels reached",
                           NEXT_DAY)
        week_cap = caps.per_week.get(channel, 0)
        if history.week.get(channel, 0) >= week_cap:
            return Verdict(False, f"{channel} cap of {week_cap} in 7 days reached", NEXT_DAY)
        if history.community_today >= caps.community_per_day:
            return Verdict(False, f"community daily budget of {caps.community_per_day} reached", NEXT_DAY)
        return Verdict.go()
