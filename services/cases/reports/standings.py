"""The collectors' ranking, and who has been at the bottom of it days running.

Collectors are ranked by recovery rate, then by what they recovered on the day; equal figures
share a rank. A collector with no portfolio has nothing to be ranked on and is left unranked.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from services.cases.reports.book import CollectionBook, Collector
from services.cases.reports.progress import CollectorDay, Progress, collector_progress


@dataclass(frozen=True)
class Standing:
    collector: Collector
    progress: Progress
    rank: int | None
    days_at_bottom: int  # consecutive days up to the report's day, at most `days`
    flagged: bool  # at the bottom every one of the last `days` days


def _merit(progress: Progress) -> tuple[Decimal, Decimal]:
    return progress.recovery_rate, progress.recovered


def ranks(day: list[CollectorDay]) -> dict[str, int]:
    """Competition ranks (1, 2, 2, 4) of the collectors with a portfolio."""
    ranked = [row for row in day if row.progress.recovery_rate is not None]
    return {row.collector.id: 1 + sum(_merit(o.progress) > _merit(row.progress) for o in ranked)
            for row in ranked}


def at_bottom(rank_of: dict[str, int], bottom: int) -> set[str]:
    """Collectors with fewer than `bottom` ranked below them; nobody, unless more than `bottom` are ranked."""
    if len(rank_of) <= bottom:
        return set()
    return {s for s, rank in rank_of.items() if sum(other > rank for other in rank_of.values()) < bottom}


def ranking(book: CollectionBook, day: date, bottom: int = 3, days: int = 3) -> list[Standing]:
    """The day's ranking, best first, with the collectors at the bottom `days` days running flagged."""
    bottoms = [at_bottom(ranks(collector_progress(book, day - timedelta(days=back))), bottom)
               for back in range(days)]
    today = collector_progress(book, day)
    rank_of = ranks(today)
    standings = []
    for row in today:
        streak = next((n for n, low in enumerate(bottoms) if row.collector.id not in low), days)
        standings.append(Standing(row.collector, row.progress, rank_of.get(row.collector.id), streak,
                                  streak >= days))
    return sorted(standings, key=lambda s: (s.rank is None, s.rank or 0, s.collector.name))
