"""Days named in English: tomorrow, next Friday, on the 15th, end of the month, Dec 20, in 3 days."""
from __future__ import annotations

import re

from services.gateway.intent import days

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WEEKDAY = (r"(monday|mon|tuesday|tues|tue|wednesday|thursday|thurs|thur|thu|friday|fri"
            r"|saturday|sunday)")
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)?"
# A small count in words: "in three days", "in a week". Vaguer words (a few, a couple) are no count.
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
           "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_COUNT = r"(\d{1,3}|" + "|".join(_COUNTS) + ")"


def _word(pattern: str) -> re.Pattern:
    """`pattern` as whole words, even when Chinese characters touch it (\\b does not see those).

    A number must end where the match does: "the 2" is no day in "the 2,860.50".
    """
    return re.compile(rf"(?<![a-z0-9]){pattern}(?![a-z0-9]|[.,]\d)")


def _count(written: str) -> int:
    return int(written) if written.isdigit() else _COUNTS[written]


def _month(written: str) -> int:
    return _MONTHS.index(written[:3]) + 1


def _weekday(written: str) -> int:
    return _WEEKDAYS[written[:3]]


EN_RULES = (
    (_word(rf"(?:the )?{_ORDINAL} (?:of )?next month"),
     lambda m, today: days.day_of_month(today, int(m[1]), months_ahead=1)),
    (_word(rf"next month(?: on)? the {_ORDINAL}"),
     lambda m, today: days.day_of_month(today, int(m[1]), months_ahead=1)),
    (_word(rf"{_MONTH} {_ORDINAL}"), lambda m, today: days.month_day(today, _month(m[1]), int(m[2]))),
    (_word(rf"{_ORDINAL} (?:of )?{_MONTH}"), lambda m, today: days.month_day(today, _month(m[2]), int(m[1]))),
    (_word(r"(?:the )?end of next month|next month[- ]end"), lambda m, today: days.end_of_month(today, 1)),
    (_word(r"(?:the )?end of (?:the |this )?month|month[- ]end"), lambda m, today: days.end_of_month(today)),
    (_word(r"(?:the )?end of (?:the |this )?year|year[- ]end"), lambda m, today: days.end_of_year(today)),
    (_word(r"(?:the )?day after tomorrow"), lambda m, today: days.days_after(today, 2)),
    (_word(r"tomorrow|tmrw|tmr"), lambda m, today: days.days_after(today, 1)),
    (_word(r"today|tonight"), lambda m, today: today),
    (_word(rf"(?:in|within|after) {_COUNT} days?|{_COUNT} days? from now"),
     lambda m, today: days.days_after(today, _count(m[1] or m[2]))),
    (_word(rf"(?:in|within|after) {_COUNT} weeks?|{_COUNT} weeks? from now"),
     lambda m, today: days.days_after(today, 7 * _count(m[1] or m[2]))),
    (_word(r"next weekend"), lambda m, today: days.weekday_next_week(today, days.SATURDAY)),
    (_word(r"(?:this |the )?weekend"), lambda m, today: days.coming_weekend(today)),
    (_word(rf"next {_WEEKDAY}"), lambda m, today: days.weekday_next_week(today, _weekday(m[1]))),
    (_word(_WEEKDAY), lambda m, today: days.coming_weekday(today, _weekday(m[1]))),
    (_word(rf"the {_ORDINAL}|(\d{{1,2}})(?:st|nd|rd|th)"),
     lambda m, today: days.day_of_month(today, int(m[1] or m[2]))),
)


