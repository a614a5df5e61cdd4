"""Days named in Chinese: 明天, 下周五, 这周六, 周末, 月底, 下个月5号, 15号, 十二月二十日, 三天后, 年底前."""
from __future__ import annotations

import re
from datetime import date

from services.gateway.intent import days
from services.gateway.intent.numbers import DAY_NUMBER as N
from services.gateway.intent.numbers import whole_number

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEK = r"(?:周|星期|礼拜)"
_LATER = r"(?:以后|之后|后|内|以内|之内)"
# A number right before 号 may be a building or room (3号楼, 5号车位), not a day.
_NOT_A_PLACE = r"(?![楼房室栋单门座层线位])"


def _number(match: re.Match, group: int) -> int | None:
    return whole_number(match[group])


def _next_month_day(m: re.Match, today: date) -> date | None:
    day = _number(m, 1)
    return days.day_of_month(today, day, months_ahead=1) if day else None


def _month_day(m: re.Match, today: date) -> date | None:
    month, day = _number(m, 1), _number(m, 2)
    return days.month_day(today, month, day) if month and day else None


def _day_of_month(m: re.Match, today: date) -> date | None:
    day = _number(m, 1)
    return days.day_of_month(today, day) if day else None


def _days_later(m: re.Match, today: date) -> date | None:
    count = _number(m, 1)
    return days.days_after(today, count) if count is not None else None


def _weeks_later(m: re.Match, today: date) -> date | None:
    count = _number(m, 1)
    return days.days_after(today, 7 * count) if count is not None else None


def _months_later(m: re.Match, today: date) -> date | None:
    count = _number(m, 1)
    return days.months_after(today, count) if count is not None else None


def _next_week(m: re.Match, today: date) -> date:
    if m[1] == "末":
        return days.weekday_next_week(today, days.SATURDAY)
    return days.weekday_next_week(today, _WEEKDAYS[m[1]])


def _this_week(m: re.Match, today: date) -> date:
    if m[1] == "末":
        return days.coming_weekend(today)
    return days.coming_weekday(today, _WEEKDAYS[m[1]])


# Most specific first: 下个月5号 before 5号, 大后天 before 后天, 下个月底 before 月底.
ZH_RULES = (
    (re.compile(rf"下个?月的?{N}[号日]{_NOT_A_PLACE}"), _next_month_day),
    (re.compile(rf"{N}月份?{N}[号日]{_NOT_A_PLACE}"), _month_day),
    (re.compile(r"下个?月[底末]"), lambda m, today: days.end_of_month(today, 1)),
    (re.compile(r"月[底末]"), lambda m, today: days.end_of_month(today)),
    (re.compile(r"年[底末]"), lambda m, today: days.end_of_year(today)),
    (re.compile(r"大后天"), lambda m, today: days.days_after(today, 3)),
    (re.compile(r"后天"), lambda m, today: days.days_after(today, 2)),
    (re.compile(r"明天|明日|明儿"), lambda m, today: days.days_after(today, 1)),
    (re.compile(r"今天|今日|今晚|今儿"), lambda m, today: today),
    (re.compile(rf"{N}个?[天日]{_LATER}"), _days_later),
    (re.compile(rf"{N}个?{_WEEK}{_LATER}"), _weeks_later),
    (re.compile(rf"{N}个月{_LATER}"), _months_later),
    (re.compile(rf"下个?{_WEEK}([一二三四五六日天末])"), _next_week),
    (re.compile(rf"(?:这个?|本)?{_WEEK}([一二三四五六日天末])"), _this_week),
    (re.compile(rf"(?:这个?|本)月的?{N}[号日]{_NOT_A_PLACE}"), _day_of_month),
    # Not inside a month-day the rules above refused (二月三十日 is no day, not the 30th).
    (re.compile(rf"(?<![月\d零〇一二两三四五六七八九十廿]){N}[号日]{_NOT_A_PLACE}"), _day_of_month),
)
