"""The dashboard's data and the report clock on PostgreSQL, as on SQLite."""
from __future__ import annotations

import json
import threading
from datetime import date

import pytest
from sqlalchemy import select

from services.cases import report_mail, reports
from services.cases.dashboard.overview import gather
from services.cases.tables import outbox
from shared.auth import Staff
from shared.db import make_engine
from shared.envelope import decode
from tests import support
from tests.unit.report_builders import COMMUNITY, EVENING, D, local
from tests.unit.sqlite_services import add_community
from tests.unit.test_dashboard import ELSEWHERE, seed
from tests.unit.test_report_mail import MANAGERS

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url):
    support.migrate_postgres("cases", postgres_url)
    engine = make_engine(postgres_url)
    add_community(engine, COMMUNITY)
    add_community(engine, ELSEWHERE)
    with engine.begin() as connection:
        seed(connection)
    yield engine
    engine.dispose()


def test_the_dashboard_on_postgresql_gathers_one_communitys_figures(engine):
    with engine.connect() as connection:
        board = gather(connection, reports.find_community(connection, COMMUNITY), D, EVENING,
                       Staff("m-1", "manager", (COMMUNITY,)))

    assert str(board["today"].recovered) == "950.00"
    assert [(d["date"].day, str(d["recovered"])) for d in board["month"]["days"] if d["recovered"]] \
        == [(3, "800.00"), (5, "950.00")]
    assert [s["staff_id"] for s in board["ranking"]["collectors"]] == ["li", "zhang", "wang", "zhao"]
    assert board["issues"]["breached_total"] == 1 and board["unreachable"]["total"] == 1
    assert [p["promise_id"] for p in board["promises"]["due_today"]] == ["P-due"]
    assert [c["id"] for c in board["campaigns"]] == ["autumn"]
    assert "X9" not in json.dumps(board, default=str)


def test_two_workers_ticking_at_once_on_postgresql_send_each_report_once(engine):
    evening = local(date(2026, 10, 4), 18, 30)  # the daily summary and the 3-day report are both due
    results, start = [], threading.Barrier(2)

    def worker():
        start.wait()
        results.append(report_mail.send_due(engine, evening, MANAGERS))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    with engine.connect() as connection:
        events = [decode(b) for b in connection.execute(select(outbox.c.body).where(
            outbox.c.routing_key == "staff_report.requested")).scalars()]
    assert sorted(e.payload["kind"] for e in events) == ["daily_progress", "three_day"]
    assert sum(results) == 2
