"""Public holidays and make-up working days (调休) from the maintained `holidays` package."""
from __future__ import annotations

import logging
import threading
from datetime import date

import holidays

log = logging.getLogger(__name__)


class PublicHolidays:
    """Days off per ISO country code (e.g. "CN"), loaded a year at a time and kept."""

    def __init__(self):
        self._years: dict[tuple[str, int], holidays.HolidayBase | None] = {}
        self._lock = threading.Lock()

    def is_holiday(self, calendar: str, day: date) -> bool:
        known = self._year(calendar, day.year)
        return known is not None and day in known

    def is_working_weekend(self, calendar: str, day: date) -> bool:
        known = self._year(calendar, day.year)
        return known is not None and day in getattr(known, "weekend_workdays", ())

    def _year(self, calendar: str, year: int) -> holidays.HolidayBase | None:
        key = (calendar.upper(), year)
        with self._lock:
            if key not in self._years:
                try:
                    # expand=False: a lookup outside the year never grows a shared object.
                    self._years[key] = holidays.country_holidays(key[0], years=year, expand=False)
                except NotImplementedError:
                    log.warning("unknown holiday calendar; no holidays skipped", extra={"calendar": calendar})
                    self._years[key] = None
            return self._years[key]
