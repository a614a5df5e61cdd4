"""Scenario SW: the daily escalation sweep over many open cases, events durably published.

Generates N open cases over C communities on PostgreSQL (every one due for the notice today),
runs `services.cases.sweep.sweep` while an outbox relay publishes to RabbitMQ with confirms
(as the cases worker does), and reports cases moved per second and events published per second,
each against raw kombu confirmed publish (baseline A) measured in the same run.
"""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, insert, select, text

from services.cases.sweep import sweep
from services.cases.tables import cases, communities, outbox
from shared.db import make_engine
from shared.messaging import EventPublisher, connect
from shared.migrations import upgrade
from shared.outbox import OutboxRelay
from shared.topology import Topology
from tests import support
from tests.bench.common import BenchError, Deadline, Measurement

ROOT = Path(__file__).resolve().parents[2]
TZ = "Asia/Shanghai"


def generate(engine: Engine, total: int, community_count: int, today) -> None:
    """Open cases in bulk with SQL, each 40 days into the reminder stage (due for the notice)."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(insert(communities), [{
            "id": f"c{n:03d}", "name": f"Community {n}", "timezone": TZ, "locale": "zh-CN",
            "send_windows": ["09:30", "14:00", "19:30"], "quiet_start": "21:00", "quiet_end": "08:00",
            "holiday_calendar": "CN", "skip_weekends": False, "ladder": None, "created_at": now,
            "updated_at": now} for n in range(community_count)])
        params = {"n": total, "c": community_count, "entered": today - timedelta(days=40),
                  "due": today - timedelta(days=41)}
        community = "'c' || lpad((g % :c)::text, 3, '0')"
        for statement in (
            f"INSERT INTO owners (id, community, name, locale, key_owner, contact_status, broken_promises,"
            f" created_at) SELECT 'o' || g, {community}, '业主' || g, 'zh-CN', false, 'reachable', 0, now()"
            " FROM generate_series(1, :n) g",
            "INSERT INTO owner_contacts (owner_id, channel, address, status, updated_at)"
            " SELECT 'o' || g, 'sms', '+86139' || lpad(g::text, 8, '0'), 'ok', now() FROM generate_series(1, :n) g",
            "INSERT INTO owner_contacts (owner_id, channel, address, status, updated_at)"
            " SELECT 'o' || g, 'email', 'owner' || g || '@example.com', 'ok', now() FROM generate_series(1, :n) g",
            f"INSERT INTO cases (id, owner_id, community, amount_owed, amount_recovered, status, stage,"
            f" stage_entered_on, due_date, opened_by, opened_at) SELECT 'k' || lpad(g::text, 7, '0'), 'o' || g,"
            f" {community}, 2860.00, 0, 'open', 'reminder', :entered, :due, 'bench', now()"
            " FROM generate_series(1, :n) g",
            "INSERT INTO stage_moves (case_id, stage, entered_on, reason)"
            " SELECT 'k' || lpad(g::text, 7, '0'), 'reminder', :entered, 'opened' FROM generate_series(1, :n) g",
        ):
            connection.execute(text(statement), params)
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))


def run(amqp_url: str, total: int, community_count: int) -> list[Measurement]:
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(TZ)).date()
    with support.postgres_database() as url:
        upgrade(ROOT / "services" / "cases" / "migrations", url)
        engine = make_engine(url, pool_size=4)
        try:
            started = time.perf_counter()
            generate(engine, total, community_count, today)
            print(f"bench: generated {total} open cases in {community_count} communities "
                  f"in {time.perf_counter() - started:.1f}s", flush=True)
            return _measure(amqp_url, engine, total, now)
        finally:
            engine.dispose()


def _measure(amqp_url: str, engine: Engine, total: int, now: datetime):
    topology = Topology("bench.sweep.")
    publisher = EventPublisher(connect(amqp_url), topology)
    relay = OutboxRelay(engine, outbox, publisher, batch_size=1000)
    sweeping_done, stop = threading.Event(), threading.Event()
    published = [0]

    def relay_until_drained() -> None:
        # The worker relays while the sweep commits; it is done when the sweep is and nothing is left.
        while not stop.is_set():
            sent = relay.relay_once()
            published[0] += sent
            if sent == 0:
                if sweeping_done.is_set():
                    return
                time.sleep(0.02)

    deadline = Deadline("sweep and relay", seconds=600)
    thread = threading.Thread(target=relay_until_drained, daemon=True)
    start = time.perf_counter()
    thread.start()
    report = sweep(engine, now)
    swept = time.perf_counter() - start
    sweeping_done.set()
    thread.join(timeout=deadline.remaining())
    stop.set()
    finished = time.perf_counter() - start
    publisher.connection.release()
    with engine.connect() as connection:
        pending = connection.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))
        moved = connection.scalar(select(func.count()).select_from(cases).where(cases.c.stage == "notice"))
    if moved != total or pending or report.moved != total:
        raise BenchError(f"sweep moved {moved} of {total}; {pending} events unpublished")
    events = published[0]
    print(f"bench: sweep of {total} cases took {swept:.1f}s; {events} events published, all confirmed, "
          f"{finished:.1f}s in all", flush=True)
    return [
        Measurement("SW", f"sweep: {total} cases moved (decided, written)", total, swept, baseline="A"),
        Measurement("SWP", "sweep + relay: events durably published", events, finished, baseline="A"),
    ]
