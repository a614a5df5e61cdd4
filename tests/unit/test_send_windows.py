"""Send windows, quiet hours, holidays and weekends: when a community lets us message owners."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifier.calendar import CommunityCalendar, NoSendWindow, SendCalendar
from services.notifier.public_holidays import PublicHolidays

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLIDAYS = PublicHolidays()
ORDINARY_DAY = date(2025, 3, 12)  # a Wednesday, no holiday


def local(day: date, hhmm: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), zone).astimezone(UTC)


def calendar(**settings) -> SendCalendar:
    return SendCalendar(CommunityCalendar(**settings), HOLIDAYS)


def shown(window, zone: ZoneInfo = SHANGHAI) -> tuple[str, str]:
    return window.opens.astimezone(zone).strftime("%m-%d %H:%M"), window.closes.astimezone(zone).strftime("%H:%M")


def test_the_default_calendar_opens_three_windows_and_the_last_closes_when_quiet_hours_begin():
    windows = calendar().windows_on(ORDINARY_DAY)

    assert [shown(w) for w in windows] == [("03-12 09:30", "11:00"), ("03-12 14:00", "15:30"),
                                           ("03-12 19:30", "21:00")]


def test_a_window_never_runs_into_the_next_one():
    windows = calendar(send_windows=("09:30", "10:00")).windows_on(ORDINARY_DAY)

    assert [shown(w) for w in windows] == [("03-12 09:30", "10:00"), ("03-12 10:00", "11:30")]


def test_a_window_configured_inside_quiet_hours_never_opens():
    windows = calendar(send_windows=("07:00", "12:00", "22:30")).windows_on(ORDINARY_DAY)

    assert [shown(w) for w in windows] == [("03-12 12:00", "13:30")]


@pytest.mark.parametrize(("quiet", "moment", "is_quiet"), [
    (("21:00", "08:00"), "20:59", False),
    (("21:00", "08:00"), "21:00", True),
    (("21:00", "08:00"), "23:59", True),
    (("21:00", "08:00"), "00:00", True),
    (("21:00", "08:00"), "07:59", True),
    (("21:00", "08:00"), "08:00", False),
    (("12:00", "13:30"), "12:30", True),  # a quiet lunch break, not past midnight
    (("12:00", "13:30"), "13:30", False),
    (("00:00", "00:00"), "03:00", False),  # equal ends: no quiet hours at all
])
def test_quiet_hours_cover_the_night_in_local_time(quiet, moment, is_quiet):
    assert calendar(quiet_start=quiet[0], quiet_end=quiet[1]).is_quiet(local(ORDINARY_DAY, moment)) is is_quiet


def test_quiet_hours_are_the_owners_local_time_not_utc():
    half_past_seven_in_london = local(ORDINARY_DAY, "07:30", ZoneInfo("Europe/London"))  # 15:30 in Shanghai

    assert calendar(timezone="Europe/London").is_quiet(half_past_seven_in_london)
    assert not calendar().is_quiet(half_past_seven_in_london)


@pytest.mark.parametrize(("holiday_calendar", "skip_weekends", "day", "sends"), [
    ("CN", False, date(2025, 3, 12), True),   # an ordinary Wednesday
    ("CN", False, date(2025, 10, 1), False),  # National Day
    ("CN", False, date(2025, 1, 29), False),  # Spring Festival
    ("CN", False, date(2025, 2, 3), False),   # a day off moved from a weekend (调休)
    ("CN", False, date(2025, 3, 15), True),   # a Saturday, weekends not skipped
    ("CN", True, date(2025, 3, 15), False),   # a Saturday, weekends skipped
    ("CN", True, date(2025, 1, 26), True),    # a Sunday the state made a working day
    (None, False, date(2025, 10, 1), True),   # a community that does not skip holidays
    (None, True, date(2025, 1, 26), False),   # no holiday calendar: no make-up working days either
])
def test_holidays_and_weekends_are_skipped_only_when_the_community_says_so(holiday_calendar, skip_weekends,
                                                                           day, sends):
    chosen = calendar(holiday_calendar=holiday_calendar, skip_weekends=skip_weekends)

    assert chosen.is_send_day(day) is sends
    assert bool(chosen.windows_on(day)) is sends


@pytest.mark.parametrize(("now", "slot", "expected"), [
    ("06:00", 0, "03-12 09:30"),  # the sweep's morning request: slot n in the n-th window
    ("06:00", 1, "03-12 14:00"),
    ("06:00", 2, "03-12 19:30"),
    ("10:15", 0, "03-12 09:30"),  # the first window is still open
    ("11:30", 0, "03-12 14:00"),  # late: the slots move forward together
    ("11:30", 1, "03-12 19:30"),
    ("11:30", 2, "03-13 09:30"),
    ("21:30", 0, "03-13 09:30"),  # never in quiet hours
    ("23:59", 1, "03-13 14:00"),
])
def test_slot_n_goes_in_the_nth_window_still_open_on_its_day(now, slot, expected):
    window = calendar().slot_window(ORDINARY_DAY, slot, local(ORDINARY_DAY, now))

    assert shown(window)[0] == expected


def test_slots_asked_for_on_a_holiday_go_in_the_first_working_days_windows():
    golden_week = calendar(skip_weekends=True)  # 2025-10-01..08 off; Saturday the 11th is worked

    slots = [golden_week.slot_window(date(2025, 10, 1), n, local(date(2025, 10, 1), "06:00")) for n in range(3)]

    assert [shown(w)[0] for w in slots] == ["10-09 09:30", "10-09 14:00", "10-09 19:30"]


def test_the_window_at_a_moment_is_the_open_one_and_none_in_quiet_hours_or_between_windows():
    chosen = calendar()

    assert shown(chosen.window_at(local(ORDINARY_DAY, "14:10")))[0] == "03-12 14:00"
    assert chosen.window_at(local(ORDINARY_DAY, "12:00")) is None
    assert chosen.window_at(local(ORDINARY_DAY, "21:10")) is None
    assert shown(chosen.next_window(local(ORDINARY_DAY, "12:00")))[0] == "03-12 14:00"
    assert shown(chosen.next_day_window(local(ORDINARY_DAY, "09:40")))[0] == "03-13 09:30"


def test_a_calendar_that_never_opens_says_so_instead_of_looping():
    closed = calendar(send_windows=("22:00",))

    with pytest.raises(NoSendWindow):
        closed.next_window(local(ORDINARY_DAY, "09:00"))


def test_a_week_of_windows_never_opens_in_quiet_hours_nor_on_a_day_off():
    chosen = calendar(skip_weekends=True)
    start = date(2025, 9, 27)  # an ordinary Saturday, a worked Sunday, then National Day

    days = [start + timedelta(days=n) for n in range(10)]
    opened = {day: chosen.windows_on(day) for day in days}

    assert [day.isoformat() for day, windows in opened.items() if windows] == [
        "2025-09-28", "2025-09-29", "2025-09-30"]  # 27 is an ordinary Saturday; 28 is worked
    for windows in opened.values():
        for window in windows:
            minute = window.opens
            while minute < window.closes:
                assert not chosen.is_quiet(minute)
                minute += timedelta(minutes=1)
