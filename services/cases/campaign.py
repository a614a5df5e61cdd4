"""Campaigns: a time-boxed push (e.g. the last 90 days of the year) with a target recovery rate."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, func, select

from services.cases.tables import cases, payments


def progress(connection: Connection, campaign, today: date) -> dict:
    """Recovered so far against the target.

    recovery rate = paid in the campaign's communities since it started
                    / (that + what their open cases still owe);
    i.e. the share of the arrears in play during the campaign that has come in.
    """
    until = min(today, campaign.ends_on)
    recovered = Decimal(connection.execute(
        select(func.coalesce(func.sum(payments.c.amount), 0)).where(
            payments.c.community.in_(campaign.communities),
            payments.c.paid_on >= campaign.starts_on, payments.c.paid_on <= until)
    ).scalar_one())
    outstanding = Decimal(connection.execute(
        select(func.coalesce(func.sum(cases.c.amount_owed), 0)).where(
            cases.c.community.in_(campaign.communities), cases.c.status == "open")
    ).scalar_one())
    base = recovered + outstanding
    rate = (recovered / base).quantize(Decimal("0.0001")) if base else Decimal("0")
    target = Decimal(campaign.target_recovery_rate)
    elapsed = max(0, (until - campaign.starts_on).days + 1)
    length = (campaign.ends_on - campaign.starts_on).days + 1
    return {
        "recovered": recovered.quantize(Decimal("0.01")), "outstanding": outstanding.quantize(Decimal("0.01")),
        "recovery_rate": rate, "target_recovery_rate": target, "on_track": rate >= target * elapsed / length,
        "days_elapsed": elapsed, "days_total": length, "running": campaign.starts_on <= today <= campaign.ends_on,
    }
