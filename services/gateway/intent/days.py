"""Calendar arithmetic for promised days, all counted from the owner's local `today`.

The rules, one place each:
- weeks run Monday to Sunday; "next <weekday>" / 下周五 is that day in the following week;
- a bare or "this" weekday (周五, 这周六, "on Friday") is the coming one, today included;
- the weekend (周末) is the coming Saturday, or today if it is already the weekend;
- a day of the month already past this month means next month; a day the month lacks (31号
  in April) is that month's last day;
- a month and day already past this year means next year; a day no year has is no date.
"""
from __future__ import annotations

import calendar
from datetime import date, timedelta

SATURDAY = 5


def days_after(today: date, days: int) -> date:
    return today + timedelta(days=days)


def last_day_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def months_after(today: date, months: int) -> date:
    """The same day `months` later, or that month's last day if it is shorter."""
    index = today.year * 12 + today.month - 1 + months
    first = date(index // 12, index % 12 + 1, 1)
    return first.replace(day=min(today.day, last_day_of_month(first).day))


def end_of_month(today: date, months_ahead: int = 0) -> date:
    return last_day_of_month(months_after(today.replace(day=1), months_ahead))


def end_of_year(today: date) -> date:
    return date(today.year, 12, 31)


def day_of_month(today: date, day: int, months_ahead: int | None = None) -> date | None:
    """The `day`-th of this month, or of next month if it has passed (or of the month asked for)."""
    if not 1 <= day <= 31:
        return None
    if months_ahead is None:
        months_ahead = 0 if day >= today.day else 1
    month = months_after(today.replace(day=1), months_ahead)
    return month.replace(day=min(day, last_day_of_month(month).day))


def month_day(today: date, month: int, day: int) -> date | None:
    """The coming `month`/`day`: this year's, or next year's once this year's has passed."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def coming_weekday(today: date, weekday: int) -> date:
    """The next `weekday` (Monday = 0), today included."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def weekday_next_week(today: date, weekday: int) -> date:
    """`weekday` in the week after this one."""
    return today + timedelta(days=7 - today.weekday() + weekday)


def coming_weekend(today: date) -> date:
    return today if today.weekday() >= SATURDAY else coming_weekday(today, SATURDAY)
