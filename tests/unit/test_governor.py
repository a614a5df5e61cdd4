"""The contact governor: caps per owner and per community, deferral with a reason, and a week of windows.

`World` (the notifier's worker on SQLite with the fake providers and a clock moved by hand)
is shared with the cancellation and PostgreSQL schedule tests.
"""
from __future__ import annotations

import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.notifier import ledger, pending
from services.notifier.bootstrap import bootstrap
from services.notifier.config import SendingRules, load_rules
from services.notifier.governor import NEXT_DAY, NEXT_WINDOW, Caps, ContactGovernor, ContactHistory
from services.notifier.providers import SendGridEmail, TwilioSms
from services.notifier.public_holidays import PublicHolidays
from services.notifier.tables import pending_sends, send_ledger
from shared.config import ConfigError, Settings
from shared.db import make_engine
from shared.envelope import Envelope, decode, new_event
from tests.fakes.replies import Reply
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio
from tests.unit.sqlite_services import migrated_database

SHANGHAI = ZoneInfo("Asia/Shanghai")
COMMUNITY = "lakeside-garden"
FAST = SendingRules(rate_per_second=10_000, poll_seconds=0.1)


def at(day: date, hhmm: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), SHANGHAI).astimezone(UTC)


def wall(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


class World:
    """The notifier's worker on a SQLite file, the fake providers, and a clock moved by hand."""

    def __init__(self, engine, twilio: FakeTwilio, sendgrid: FakeSendGrid, tmp_path, rules: SendingRules,
                 now: datetime):
        self.now = now
        self.twilio, self.sendgrid, self.engine = twilio, sendgrid, engine
        settings = Settings.from_env({
            "DATA_DIR": str(tmp_path), "SMS_PROVIDER": "twilio", "EMAIL_PROVIDER": "sendgrid",
            "TWILIO_API_BASE_URL": twilio.url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token, "SENDGRID_API_HOST": sendgrid.url,
            "SENDGRID_API_KEY": sendgrid.api_key, "PROVIDER_TIMEOUT_SECONDS": "2",
            "GATEWAY_PUBLIC_URL": "http://gw.test",
        })
        self.notifier = bootstrap(settings, rules, engine=engine, sms=TwilioSms(settings),
                                  email=SendGridEmail(settings), days_off=PublicHolidays(), clock=lambda: self.now)

    def deliver(self, type_: str, payload: dict, occurred_at: datetime | None = None) -> Envelope:
        """Hand an event to the worker as the consumer would: decoded from the wire."""
        event = replace(decode(new_event(type_, payload).to_json()), occurred_at=occurred_at or self.now)
        self.notifier.handle(event)
        return event

    def configure(self, community: str = COMMUNITY, **calendar) -> None:
        settings = {"timezone": "Asia/Shanghai", "locale": "zh-CN", "send_windows": ["09:30", "14:00", "19:30"],
                    "quiet_start": "21:00", "quiet_end": "08:00", "holiday_calendar": "CN",
                    "skip_weekends": False, **calendar}
        self.deliver("community.configured", {"community": community, **settings})

    def request(self, owner: str = "owner-1", slot: int = 0, channels=("sms", "email"), send_on: date | None = None,
                community: str = COMMUNITY, case_id: str | None = None, phone: str | None = None,
                occurred_at: datetime | None = None) -> str:
        notification_id = str(uuid.uuid4())
        self.deliver("reminder.requested", {
            "notification_id": notification_id, "case_id": case_id or f"case-{owner}", "community": community,
            "stage": "reminder", "slot": slot, "send_on": send_on or self.now.astimezone(SHANGHAI).date(),
            "channels": list(channels), "template": "reminder",
            "recipient": {"owner_id": owner, "name": "王芳", "phone": phone or phone_of(owner),
                          "email": f"{owner}@example.com", "locale": "zh-CN"},
            "context": {"amount_owed": "2860.00", "community": community},
        }, occurred_at)
        return notification_id

    def tick(self) -> Counter:
        return self.notifier.dispatcher.tick()

    def run_until(self, end: datetime, step: timedelta = timedelta(minutes=15)) -> None:
        while self.now < end:
            self.tick()
            self.now += step

    def rows(self, **where) -> list[dict]:
        query = select(pending_sends).order_by(pending_sends.c.due_at, pending_sends.c.channel)
        for name, value in where.items():
            query = query.where(pending_sends.c[name] == value)
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def row(self, notification_id: str, channel: str) -> dict:
        [found] = self.rows(notification_id=notification_id, channel=channel)
        return found

    def sms_to(self, owner: str) -> list[dict]:
        return [r for r in self.twilio.requests if r.get("To") == phone_of(owner)]

    def emails_to(self, owner: str) -> list:
        """Each email the owner got (one personalization of a request, as SendGrid builds it)."""
        return [m for _, m in self.sendgrid.messages if m["to"] == [f"{owner}@example.com"]]


def phone_of(owner: str) -> str:
    return f"+86138{uuid.uuid5(uuid.NAMESPACE_DNS, owner).int % 10**8:08d}"


@contextmanager
def worlds(tmp_path, database_url: str | None = None):
    """Yield a builder of Worlds on one database (a fresh SQLite file unless given) and one pair of fakes."""
    engine = make_engine(database_url or migrated_database(tmp_path, "notifier"))
    with FakeTwilio() as twilio, FakeSendGrid() as sendgrid:
        twilio.callbacks_enabled = False  # the callback URL points at a gateway that is not running

        def build(now: datetime, rules: SendingRules = FAST) -> World:
            world = World(engine, twilio, sendgrid, tmp_path, rules, now)
            world.configure()
            return world

        yield build
    engine.dispose()


@pytest.fixture
def world_at(tmp_path):
    with worlds(tmp_path) as build:
        yield build


# --- the governor on its own ---------------------------------------------------------------

@pytest.mark.parametrize(("channel", "history", "allowed", "reason", "wait_for"), [
    ("sms", ContactHistory(), True, None, None),
    ("sms", ContactHistory(today={"sms": 1}, week={"sms": 1}), True, None, None),
    ("sms", ContactHistory(today={"sms": 2}, week={"sms": 2}), False, "sms cap of 2 a day", NEXT_DAY),
    ("email", ContactHistory(today={"email": 1}, week={"email": 1}), False, "email cap of 1 a day", NEXT_DAY),
    ("email", ContactHistory(today={"sms": 2}, week={"sms": 2}), True, None, None),
    ("sms", ContactHistory(today={"sms": 1}, week={"sms": 6}), False, "sms cap of 6 in 7 days", NEXT_DAY),
    ("sms", ContactHistory(today={"sms": 1}, week={"sms": 1}, this_window={"sms": 1}), False,
     "sms already sent to this owner in this window", NEXT_WINDOW),
    ("sms", ContactHistory(community_today=5000), False, "community daily budget of 5000", NEXT_DAY),
], ids=["nothing-sent", "under-the-day-cap", "sms-day-cap", "email-day-cap", "caps-are-per-channel",
        "sms-week-cap", "one-per-window", "community-budget"])
def test_the_governor_allows_a_send_only_under_every_default_cap(channel, history, allowed, reason, wait_for):
    verdict = ContactGovernor().judge(channel, history)

    assert (verdict.allowed, verdict.wait_for) == (allowed, wait_for)
    assert (reason or "") in (verdict.reason or "")


def test_the_cap_across_channels_counts_every_channel_together():
    governor = ContactGovernor(Caps(per_day={"sms": 5, "email": 5}, messages_per_day=2))

    verdict = governor.judge("email", ContactHistory(today={"sms": 2}, week={"sms": 2}))

    assert not verdict.allowed and "2 messages a day across channels" in verdict.reason


def test_caps_rate_and_windows_are_read_from_the_environment_with_the_issues_defaults():
    defaults = load_rules({})
    tuned = load_rules({"GOVERNOR_SMS_PER_DAY": "3", "GOVERNOR_SMS_PER_WEEK": "9", "GOVERNOR_EMAIL_PER_DAY": "2",
                        "GOVERNOR_MESSAGES_PER_DAY": "4", "COMMUNITY_DAILY_BUDGET": "800",
                        "SEND_RATE_PER_SECOND": "1", "SEND_WINDOW_MINUTES": "60"})

    assert (defaults.caps.per_day, defaults.caps.per_week) == ({"sms": 2, "email": 1}, {"sms": 6, "email": 7})
    assert (defaults.rate_per_second, defaults.window_minutes, defaults.send_immediately) == (10.0, 90, False)
    assert tuned.caps == Caps(per_day={"sms": 3, "email": 2}, per_week={"sms": 9, "email": 7}, messages_per_day=4,
                              community_per_day=800)
    assert (tuned.rate_per_second, tuned.window_minutes) == (1.0, 60)


@pytest.mark.parametrize(("environ", "named"), [
    ({"GOVERNOR_SMS_PER_DAY": "two"}, "GOVERNOR_SMS_PER_DAY"),
    ({"SEND_RATE_PER_SECOND": "0"}, "SEND_RATE_PER_SECOND"),
    ({"GOVERNOR_EMAIL_PER_WEEK": "-1"}, "GOVERNOR_EMAIL_PER_WEEK"),
    ({"APP_ENV": "production", "NOTIFIER_SEND_IMMEDIATELY": "true"}, "NOTIFIER_SEND_IMMEDIATELY"),
], ids=["not-a-number", "zero-rate", "negative-cap", "immediate-sends-in-production"])
def test_unusable_sending_rules_stop_the_worker_with_the_variable_named(environ, named):
    with pytest.raises(ConfigError, match=named):
        load_rules(environ)


# --- the governor in the dispatcher --------------------------------------------------------

def test_a_send_over_the_daily_cap_is_deferred_to_the_next_days_first_window_with_its_reason(world_at):
    day = date(2025, 3, 12)
    world = world_at(at(day, "06:00"))
    first, second, third = (world.request(slot=n, channels=["sms"]) for n in range(3))

    world.run_until(at(day, "23:00"))

    assert [wall(r["sent_at"]) for r in world.rows(status="sent")] == ["03-12 09:30", "03-12 14:00"]
    held = world.row(third, "sms")
    assert held["status"] == "deferred"
    assert held["reason"] == "sms cap of 2 a day reached; next try 2025-03-13 09:30"
    assert wall(held["due_at"]) == "03-13 09:30"
    assert len(world.sms_to("owner-1")) == 2

    world.run_until(at(day + timedelta(days=1), "10:00"))

    assert world.row(third, "sms")["status"] == "sent" and len(world.sms_to("owner-1")) == 3
    assert {first, second} <= {r["notification_id"] for r in world.rows(status="sent")}


def test_two_requests_for_one_window_go_out_one_window_apart(world_at):
    day = date(2025, 3, 12)
    world = world_at(at(day, "06:00"))
    early = world.request(channels=["sms"])
    doubled = world.request(channels=["sms"], case_id="another-case", occurred_at=at(day, "06:01"))

    world.run_until(at(day, "10:00"))

    assert world.row(early, "sms")["status"] == "sent"
    assert world.row(doubled, "sms")["status"] == "deferred"
    assert world.row(doubled, "sms")["reason"].startswith("sms already sent to this owner in this window")
    world.run_until(at(day, "14:15"))
    assert wall(world.row(doubled, "sms")["sent_at"]) == "03-12 14:00"


def test_the_community_budget_defers_the_rest_of_the_days_batch(world_at):
    day = date(2025, 3, 12)
    world = world_at(at(day, "06:00"), replace(FAST, caps=Caps(community_per_day=3)))
    for n in range(5):
        world.request(owner=f"owner-{n}", channels=["sms"])

    world.run_until(at(day, "10:00"))

    statuses = Counter(r["status"] for r in world.rows())
    assert statuses == {"sent": 3, "deferred": 2}
    assert {r["reason"] for r in world.rows(status="deferred")} == {
        "community daily budget of 3 reached; next try 2025-03-13 09:30"}
    assert len(world.twilio.requests) == 3


def test_a_send_picked_after_its_window_closed_waits_for_the_next_window(world_at):
    day = date(2025, 3, 12)
    world = world_at(at(day, "06:00"))
    notification = world.request(channels=["sms"])

    world.now = at(day, "11:20")  # the worker was down for the whole 09:30 window
    outcomes = world.tick()

    held = world.row(notification, "sms")
    assert outcomes["outside_window"] == 1 and world.twilio.requests == []
    assert (held["status"], held["reason"]) == ("deferred", "outside send windows; next window 2025-03-12 14:00")
    world.now = at(day, "13:59")
    assert world.tick()["sent"] == 0
    world.now = at(day, "14:00")
    assert world.tick()["sent"] == 1 and len(world.twilio.requests) == 1


def test_a_throttled_send_is_tried_again_after_a_backoff_and_goes_out_once(world_at):
    day = date(2025, 3, 12)
    world = world_at(at(day, "09:30"))
    notification = world.request(channels=["sms"])
    world.twilio.script(Reply.error(429, code=20429))

    first = world.tick()
    waiting = world.row(notification, "sms")
    world.now = at(day, "09:31")
    second = world.tick()

    assert first["retry"] == 1 and waiting["status"] == "pending"
    assert waiting["reason"] == "provider unavailable (20429); retry 1" and waiting["due_at"] > at(day, "09:30")
    assert second["sent"] == 1 and world.row(notification, "sms")["attempts"] == 2
    assert len(world.twilio.requests) == 2 and len(world.twilio.messages) == 1


def test_a_send_left_mid_call_by_a_crash_is_marked_unknown_and_not_repeated_before_reconciliation(world_at):
    day = date(2025, 3, 12)
    world = world_at(at(day, "09:30"))
    notification = world.request(channels=["sms"])
    key = pending.Key(notification, "sms")
    with world.engine.begin() as connection:  # claimed for the call, then the process died
        assert pending.claim(connection, key, world.now)
        pending.admit(connection, key, world.now)
        assert ledger.claim(connection, notification, "sms", "case-owner-1", "owner-1").granted

    # Until RECONCILE_AFTER_SECONDS (15 min) has passed; what follows is in test_reconcile.py.
    world.run_until(at(day, "10:00"))

    row = world.row(notification, "sms")
    assert (row["status"], row["reason"]) == ("unknown", "interrupted mid-send; reconcile before any resend")
    assert world.twilio.requests == []
    with world.engine.connect() as connection:
        assert connection.execute(select(send_ledger.c.status)).scalar_one() == "unknown"


def test_a_simulated_week_of_windows_sends_nothing_in_quiet_hours_nor_over_a_cap(world_at):
    """Three sends a day asked for every morning (a campaign), a week that runs into National Day."""
    start = date(2025, 9, 29)
    world = world_at(at(start, "00:00"), replace(FAST, stale_days=1))
    world.configure("river-view", holiday_calendar=None, skip_weekends=False)  # sends every day
    world.configure(COMMUNITY, skip_weekends=True)  # skips National Day and the weekend after it
    owners = {"a-1": COMMUNITY, "a-2": COMMUNITY, "b-1": "river-view", "b-2": "river-view"}
    for offset in range(7):
        day = start + timedelta(days=offset)
        world.run_until(at(day, "06:00"))
        for owner, community in owners.items():
            for slot in range(3):
                world.request(owner=owner, slot=slot, community=community)
    world.run_until(at(start + timedelta(days=7), "00:00"))

    sent = world.rows(status="sent")
    for row in sent:
        local = row["sent_at"].astimezone(SHANGHAI)
        assert time(8) <= local.time() < time(21), f"sent in quiet hours: {wall(row['sent_at'])}"
        assert any(w.contains(row["sent_at"]) for w in _windows(world, row["community"], local.date()))
    per_day = Counter((r["owner_id"], r["channel"], r["sent_at"].astimezone(SHANGHAI).date()) for r in sent)
    assert max(n for (_, channel, _), n in per_day.items() if channel == "sms") <= 2
    assert max(n for (_, channel, _), n in per_day.items() if channel == "email") <= 1
    for owner in owners:
        sms_times = sorted(r["sent_at"] for r in sent if r["owner_id"] == owner and r["channel"] == "sms")
        for i, first in enumerate(sms_times):
            assert sum(1 for t in sms_times[i:] if t - first < timedelta(days=7)) <= 6
    totals = Counter((r["owner_id"], r["channel"]) for r in sent)
    assert totals[("b-1", "sms")] == 6 and totals[("b-1", "email")] == 7  # the caps bind, sends happen
    assert totals[("a-1", "sms")] == 4 and totals[("a-1", "email")] == 2  # only Sep 29 and 30 are open
    assert len(world.twilio.requests) == sum(n for (_, channel), n in totals.items() if channel == "sms")
    assert len(world.sendgrid.messages) == sum(n for (_, channel), n in totals.items() if channel == "email")
    reasons = {r["reason"].split(";")[0] for r in world.rows() if r["status"] in ("deferred", "cancelled")}
    assert "sms cap of 6 in 7 days reached" in reasons
    assert "expired: no allowed window before it went stale" in reasons


def _windows(world: World, community: str, day: date):
    with world.engine.connect() as connection:
        return world.notifier.dispatcher.book.for_community(connection, community).windows_on(day)
