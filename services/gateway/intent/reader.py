"""Read a reply into one intent, in a fixed order of precedence.

Precedence (the first that holds wins), and why:
 1. opt_out        the law and the owner's wish come first; "不要再发了，电梯修好再说" only opts out.
 2. opt_in         START / 订阅 (after opt_out, so 取消订阅 stays an opt-out).
 3. help           HELP / 帮助 alone; "help, I can't pay" is hardship.
 4. paid_already   "我已经交了" stops the chase whatever else is said; staff verify it.
 5. complaint      a service problem, even with a promise attached: "电梯修好了我就交" is the
                   seed's "fix X and I'll pay", a condition, not a date to hold the owner to.
 6. dispute        contests the amount or the fee: checked before any promise or hardship.
 7. hardship       asks for instalments (分期), even when a day is named.
 8. question       whether or by when payment is due ("月底前必须交吗?"), even with a day in it.
 9. promise_to_pay with a named day, when the owner speaks of paying or says little else
                   ("下周五", "Friday"); "手头紧，我下周五交" is a promise, not hardship.
10. hardship       cannot pay now (交不起, "can't afford"), with no day named.
11. promise_to_pay without a day ("过几天", "soon"): promised_date None, the owner is asked for
                   a day; a question with no word of paying ("下周有人来吗?") is not one.
12. question       a question mark or question word.
13. unknown        anything else, including an empty reply.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.gateway.intent import words
from services.gateway.intent.amounts import find_amount
from services.gateway.intent.dates import NamedDay, find_day, without
from services.gateway.intent.language import is_short, language_of, normalise


@dataclass(frozen=True)
class Reading:
    intent: str
    promised_date: date | None = None
    amount: Decimal | None = None
    category: str | None = None
    language: str = "zh-CN"


def read_reply(text: str, received_at: datetime, timezone: str | Callable[[], str]) -> Reading:
    """What `text`, received at `received_at`, means; days are counted in `timezone`.

    `timezone` may be a function, called only if the reply names something like a day.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must carry its UTC offset")

    def today() -> date:
        return received_at.astimezone(ZoneInfo(timezone() if callable(timezone) else timezone)).date()

    clean = normalise(text)
    language = language_of(clean)
    named = find_day(clean, today)
    intent, category = _intent(clean, named, unicodedata.normalize("NFKC", text))
    if intent != "promise_to_pay":
        return Reading(intent, category=category, language=language)
    return Reading(intent, named.day if named else None, find_amount(without(clean, named)), None, language)


def _intent(clean: str, named: NamedDay | None, raw: str) -> tuple[str, str | None]:
    if not clean:
        return "unknown", None
    if words.opts_out(clean, raw):
        return "opt_out", None
    if words.opts_in(clean):
        return "opt_in", None
    if words.asks_for_help(clean):
        return "help", None
    if words.says_paid(clean):
        return "paid_already", None
    category = words.complaint_category(clean)
    if category is not None:
        return "complaint", category
    if words.disputes(clean):
        return "dispute", "billing_dispute"
    if words.asks_for_instalments(clean):
        return "hardship", None
    if words.asks_when_due(clean):
        return "question", None
    if named is not None and _promises_on_the_day(clean, named):
        return "promise_to_pay", None
    if words.cannot_pay(clean):
        return "hardship", None
    if words.promises_vaguely(clean) and (words.mentions_paying(clean) or not words.asks(clean)):
        return "promise_to_pay", None
    if words.asks(clean):
        return "question", None
    return "unknown", None


def _promises_on_the_day(clean: str, named: NamedDay) -> bool:
    """The owner speaks of paying, or the day is nearly all they said ("下周五吧", "Friday ok")."""
    return words.mentions_paying(clean) or is_short(without(clean, named), han=3, words=2)
