"""Concurrent provider calls: the dispatcher keeps up with provider latency, and still sends each once."""
from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from services.notifier.bootstrap import bootstrap
from services.notifier.dispatcher import Pacer, SlowStart, load_concurrency
from services.notifier.providers import SendGridEmail, TwilioSms
from services.notifier.tables import send_ledger
from shared.config import ConfigError, Settings
from tests.unit.test_governor import FAST, at, worlds

DAY = date(2025, 3, 12)


def count_in_flight(fake) -> dict:
    """Wrap the fake's reply (where its latency is waited out) to note the most requests in flight at once."""
    seen = {"now": 0, "most": 0}
    lock = threading.Lock()
    answer = fake.next_reply

    def counted():
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        try:
            return answer()
        finally:
            with lock:
                seen["now"] -= 1

    fake.next_reply = counted
    return seen


def ledger_statuses(engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(send_ledger.c.status, func.count()).group_by(send_ledger.c.status))
        return dict(rows.all())


def test_due_sends_overlap_their_provider_calls_and_each_goes_out_once(tmp_path):
    with worlds(tmp_path) as build:
        world = build(at(DAY, "09:30"))
        world.twilio.latency = 0.2
        in_flight = count_in_flight(world.twilio)
        owners = [f"owner-{n}" for n in range(20)]
        sent = [world.request(owner=owner, channels=["sms"]) for owner in owners]

        outcomes = world.tick()

        assert outcomes["sent"] == 20
        assert {world.row(n, "sms")["status"] for n in sent} == {"sent"}
        assert ledger_statuses(world.engine) == {"sent": 20}
        assert sorted(r["To"] for r in world.twilio.requests) == sorted(world.sms_to(o)[0]["To"] for o in owners)
        assert len(world.twilio.requests) == 20
        assert in_flight["most"] >= 2


def test_two_dispatchers_ticking_at_once_still_make_one_call_per_send(tmp_path):
    with worlds(tmp_path) as build:
        world = build(at(DAY, "09:30"))
        world.twilio.latency = 0.05
        sent = [world.request(owner=f"owner-{n}", channels=["sms", "email"]) for n in range(12)]
        settings = _settings(world, tmp_path)
        second = bootstrap(settings, FAST, engine=world.engine, sms=TwilioSms(settings),
                           email=SendGridEmail(settings), clock=lambda: world.now, concurrency=8)

        ticks = [threading.Thread(target=d.tick) for d in (world.notifier.dispatcher, second.dispatcher)]
        for tick in ticks:
            tick.start()
        for tick in ticks:
            tick.join()

        assert len(world.twilio.requests) == 12 and len(world.sendgrid.messages) == 12
        assert len({m["custom_args"]["notification_id"] for _, m in world.sendgrid.messages}) == 12
        assert ledger_statuses(world.engine) == {"sent": 24}
        assert {world.row(n, c)["status"] for n in sent for c in ("sms", "email")} == {"sent"}


def test_one_owners_sends_are_weighed_in_turn_so_the_window_cap_still_holds(tmp_path):
    with worlds(tmp_path) as build:
        world = build(at(DAY, "09:30"))
        requests = [world.request(owner="owner-1", channels=["sms"]) for _ in range(3)]

        world.tick()

        statuses = [world.row(n, "sms")["status"] for n in requests]
        assert sorted(statuses) == ["deferred", "deferred", "sent"]
        assert len(world.sms_to("owner-1")) == 1


def test_concurrent_workers_each_take_their_own_slot_from_the_pacer():
    pacer = Pacer(rate=10, clock=lambda: 100.0)
    delays: list[float] = []

    class Recorder:
        def wait(self, seconds: float) -> None:
            delays.append(seconds)

    workers = [threading.Thread(target=pacer.wait, args=(Recorder(),)) for _ in range(10)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    # The first slot is now (no wait); every other worker waits its own tenth of a second more.
    assert sorted(round(d, 6) for d in delays) == [round(0.1 * n, 6) for n in range(1, 10)]


def test_a_failing_provider_gets_one_call_at_a_time_and_a_healthy_one_the_full_concurrency():
    slots = SlowStart(ceiling=8)
    for outcome in ("sent", "failed", "sent", "sent"):
        slots.acquire()
        slots.release(outcome)
    assert slots.limit == 8

    slots.acquire()
    slots.release("unknown")
    assert slots.limit == 1


@pytest.mark.parametrize(("environ", "expected"), [({}, 32), ({"NOTIFIER_CONCURRENCY": "4"}, 4)])
def test_concurrency_is_read_from_the_environment(environ, expected):
    assert load_concurrency(environ) == expected


@pytest.mark.parametrize("raw", ["0", "many"])
def test_unusable_concurrency_stops_the_worker_with_the_variable_named(raw):
    with pytest.raises(ConfigError, match="NOTIFIER_CONCURRENCY"):
        load_concurrency({"NOTIFIER_CONCURRENCY": raw})


def _settings(world, tmp_path) -> Settings:
    return Settings.from_env({
        "DATA_DIR": str(tmp_path),
        "SMS_PROVIDER": "twilio", "EMAIL_PROVIDER": "sendgrid",
        "TWILIO_API_BASE_URL": world.twilio.url, "TWILIO_ACCOUNT_SID": world.twilio.account_sid,
        "TWILIO_AUTH_TOKEN": world.twilio.auth_token, "SENDGRID_API_HOST": world.sendgrid.url,
        "SENDGRID_API_KEY": world.sendgrid.api_key, "PROVIDER_TIMEOUT_SECONDS": "2",
        "GATEWAY_PUBLIC_URL": "http://gw.test",
    })
