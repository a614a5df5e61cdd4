"""Numbers as owners write them: 15, 2,860.50, 十五, 两千八百六十点五, 1千5 (cn2an reads the Chinese)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import cn2an

# A day or month count in a date: digits or Chinese numerals (廿 = twenty).
DAY_NUMBER = r"(\d{1,3}|[零〇一二两三四五六七八九十廿]{1,4})"
# Lengths are bounded: no fee needs more, and an unbounded run would make a long message
# of digits cost quadratic time to search.
_GROUPED = r"\d{1,3}(?:,\d{3}){1,3}(?:\.\d{1,2})?"
# An amount: grouped digits, or any mix of digits and Chinese numerals (1千5, 一千五百, 1500.5).
AMOUNT_NUMBER = rf"({_GROUPED}|[0-9零〇一二两三四五六七八九十百千万点.]{{1,16}})"
# Plain digits for English amounts.
EN_AMOUNT_NUMBER = rf"({_GROUPED}|\d{{1,10}}(?:\.\d{{1,2}})?)"
_CHINESE_UNITS = set("十百千万")


def whole_number(written: str) -> int | None:
    """15 or 十五 as an int; None for anything that is not one number."""
    if written.isdigit():
        return int(written)
    value = _chinese(written)
    return int(value) if value is not None and value == int(value) else None


def amount(written: str, has_currency: bool) -> Decimal | None:
    """The money in `written`, to the fen; None unless it is plausibly an amount.

    A bare Chinese numeral needs a unit (十/百/千/万) or a currency beside it: 交一 or 交五 is
    not an amount, 交五百 is.
    """
    if any(ch.isdigit() for ch in written) and not (_CHINESE_UNITS & set(written)):
        try:
            value = Decimal(written.replace(",", "").rstrip("."))
        except InvalidOperation:
            return None
    elif has_currency or _CHINESE_UNITS & set(written):
        number = _chinese(written)
        value = None if number is None else Decimal(str(number))
    else:
        return None
    if value is None or not Decimal(0) < value < Decimal(10) ** 9:
        return None
    return value.quantize(Decimal("0.01"))


def _chinese(written: str) -> float | int | None:
    try:
        return cn2an.cn2an(written, "smart")
    except ValueError:
        return None
