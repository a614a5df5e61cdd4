"""The stage funnel: how many cases reached each ladder stage, and how many then paid in time."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, select

from services.cases.ladder import STAGES
from services.cases.reports.book import Community, closing_day, last_paid_on
from services.cases.reports.figures import rate
from services.cases.tables import cases, stage_moves

CONVERSION_DAYS = 30  # a stage converts when its case is paid in full within this many days


@dataclass(frozen=True)
class StageConversion:
    stage: str
    reached: int  # cases that entered the stage in the period
    paid_in_time: int  # of those, closed as paid within CONVERSION_DAYS of entering it
    still_counting: int  # still open, and their CONVERSION_DAYS are not over
    conversion: Decimal | None  # paid_in_time / reached


def funnel(connection: Connection, community: Community, since: date, until: date,
           as_of: date) -> list[StageConversion]:
    """For each ladder stage, how many cases reached it in since..until and how many then paid."""
    rows = connection.execute(
        select(stage_moves.c.stage, stage_moves.c.entered_on, cases.c.closed_at, cases.c.closed_reason,
               last_paid_on().label("last_paid_on"))
        .join(cases, cases.c.id == stage_moves.c.case_id)
        .where(cases.c.community == community.id, stage_moves.c.entered_on.between(since, until))
    ).all()
    window = timedelta(days=CONVERSION_DAYS)
    tally = {stage: [0, 0, 0] for stage in STAGES}
    for row in rows:
        counts = tally.setdefault(row.stage, [0, 0, 0])
        closed_on = closing_day(community, row.closed_at, row.closed_reason, row.last_paid_on)
        paid = row.closed_reason == "paid" and closed_on is not None and closed_on - row.entered_on <= window
        counts[0] += 1
        counts[1] += paid
        counts[2] += not paid and row.closed_at is None and as_of <= row.entered_on + window
    return [StageConversion(stage, reached, paid, counting, rate(paid, reached))
            for stage, (reached, paid, counting) in tally.items()]
