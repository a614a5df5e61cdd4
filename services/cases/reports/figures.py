"""How the reports round money and rates."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")


def rate(part: Decimal, whole: Decimal) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, ROUND_HALF_UP) if whole else None


def total(amounts) -> Decimal:
    return sum(amounts, ZERO).quantize(CENT)
