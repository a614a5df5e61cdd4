"""Find the day a reply names, resolved against the owner's local date."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from services.gateway.intent.dates_en import EN_RULES
from services.gateway.intent.dates_zh import ZH_RULES


@dataclass(frozen=True)
class NamedDay:
    day: date
    span: tuple[int, int]  # where in the normalised text the day was named


def find_day(clean: str, today: date | Callable[[], date]) -> NamedDay | None:
    """The first rule (most specific first) that names a real day wins.

    `today` may be a function: it is asked only once some rule matches (finding out the owner's
    local date can cost a lookup that most replies, naming no day, never need).
    """
    for pattern, resolve in (*ZH_RULES, *EN_RULES):
        for match in pattern.finditer(clean):
            if callable(today):
                today = today()
            day = resolve(match, today)
            if day is not None:
                return NamedDay(day, match.span())
    return None


def without(clean: str, named: NamedDay | None) -> str:
    """The text with the named day blanked out, so its numbers are not read as money."""
    if named is None:
        return clean
    start, end = named.span
    return clean[:start] + " " * (end - start) + clean[end:]
