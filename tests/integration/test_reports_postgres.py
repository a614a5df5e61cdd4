"""The report queries on PostgreSQL give the figures worked out by hand in tests/unit/report_builders.py."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.cases.reports import find_community, funnel, load_book, periodic_report, ranking
from shared.db import make_engine
from tests import support
from tests.unit.report_builders import (
    COLLECTORS_ON_5_OCT,
    COMMUNITY,
    EVENING,
    PERIOD,
    SEPTEMBER_FUNNEL,
    D,
    build_collection_world,
    build_funnel_world,
    build_meeting_world,
    day,
    figures,
)
from tests.unit.sqlite_services import add_community

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url):
    support.migrate_postgres("cases", postgres_url)
    engine = make_engine(postgres_url)
    add_community(engine, COMMUNITY)
    add_community(engine, "river-view")
    yield engine
    engine.dispose()


def test_the_funnel_on_postgresql_counts_each_stage_and_its_conversion(engine):
    with engine.begin() as connection:
        build_funnel_world(connection)
    with engine.connect() as connection:
        stages = funnel(connection, find_community(connection, COMMUNITY), day(9, 1), day(9, 30), D)

    assert [(s.stage, s.reached, s.paid_in_time, s.still_counting, s.conversion) for s in stages] \
        == SEPTEMBER_FUNNEL


def test_the_ranking_on_postgresql_ranks_credits_and_flags_the_collectors(engine):
    with engine.begin() as connection:
        build_collection_world(connection)
    with engine.connect() as connection:
        book = load_book(connection, find_community(connection, COMMUNITY), D - timedelta(days=2), D)

    standings = ranking(book, D, bottom=2, days=3)

    assert [(s.collector.id, s.rank, s.flagged) for s in standings] == [
        ("li", 1, False), ("zhang", 2, True), ("wang", 3, True), ("zhao", None, False)]
    assert {s.collector.id: figures(s.progress) for s in standings} == COLLECTORS_ON_5_OCT


def test_the_periodic_report_on_postgresql_counts_issues_breaches_and_trend(engine):
    with engine.begin() as connection:
        build_meeting_world(connection)
    with engine.connect() as connection:
        report = periodic_report(connection, find_community(connection, COMMUNITY), PERIOD, D, EVENING)

    assert {t.figure: t.change for t in report.trend}["issues_opened"] == 1
    assert [b.category for b in report.breached] == ["repairs", "leaks"]
    assert {i.category: (i.opened, i.resolved, i.open_at_end) for i in report.issues}["leaks"] == (2, 1, 1)
