"""The amount an owner promises: 交1500, 一千五百元, ¥2,860.50, "pay 2,860.50", "500 yuan"."""
from __future__ import annotations

import re
from decimal import Decimal

from services.gateway.intent.numbers import AMOUNT_NUMBER, EN_AMOUNT_NUMBER, amount

# A number followed by one of these counts days, months or rooms, not money (交两个月, 交到15号).
_NOT_MONEY_AFTER = (r"(?![0-9零〇一二两三四五六七八九十百千万点.号日天月周年个期次楼房室]|,\d"
                    r"|\s*(?:st|nd|rd|th|days?|weeks?|months?|am|pm|%)(?![a-z]))")
_CURRENCY_AFTER = r"\s*(?:元|块|圆|rmb|cny|yuan|kuai)"

# (pattern, whether the pattern itself names a currency)
_AMOUNTS = (
    (re.compile(rf"(?:¥|\$|(?<![a-z])rmb|(?<![a-z])cny)\s*{AMOUNT_NUMBER}"), True),
    (re.compile(rf"{AMOUNT_NUMBER}{_CURRENCY_AFTER}"), True),
    (re.compile(rf"(?:交|缴|付|还|转|支付|给)(?:了|上|清)?\s*{AMOUNT_NUMBER}{_NOT_MONEY_AFTER}"), False),
    (re.compile(rf"(?<![a-z])(?:pay|paying|transfer|send|settle)\s+(?:you\s+|the\s+|back\s+)?"
                rf"{EN_AMOUNT_NUMBER}{_NOT_MONEY_AFTER}"), False),
)


def find_amount(text: str) -> Decimal | None:
    """The first plausible amount in `text` (its named day already blanked out), or None."""
    for pattern, names_currency in _AMOUNTS:
        for match in pattern.finditer(text):
            value = amount(match[1], names_currency)
            if value is not None:
                return value
    return None
