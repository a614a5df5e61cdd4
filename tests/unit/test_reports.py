"""Reports: daily progress, the collector ranking, the stage funnel and the report every few days.

Every expected figure is worked out by hand from the small worlds in report_builders.py (see
the comments there and below).
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.cases import accounts, handlers, register
from services.cases.app import create_app
from services.cases.domain import OpenCase, OwnerDetails
from services.cases.promise import record_promise
from services.cases.reports import (
    Progress,
    breached_deadlines,
    collector_progress,
    community_progress,
    find_community,
    funnel,
    load_book,
    periodic_report,
    ranking,
)
from services.cases.sweep import sweep
from shared.auth import issue_token
from tests.unit.report_builders import (
    COLLECTORS_ON_5_OCT,
    COMMUNITY,
    EVENING,
    PERIOD,
    SEP_1,
    SEPTEMBER_FUNNEL,
    D,
    World,
    build_collection_world,
    build_funnel_world,
    build_meeting_world,
    day,
    figures,
    local,
    money,
)
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment


@pytest.fixture
def engine(tmp_path):
    from shared.db import make_engine

    engine = make_engine(migrated_database(tmp_path, "cases"))
    add_community(engine, COMMUNITY)
    add_community(engine, "river-view")
    yield engine
    engine.dispose()


@pytest.fixture
def collection(engine):
    with engine.begin() as connection:
        build_collection_world(connection)
    return engine


def book_for(engine, first: date, last: date):
    with engine.connect() as connection:
        return load_book(connection, find_community(connection, COMMUNITY), first, last)


# --- daily progress ------------------------------------------------------------------------------

@pytest.mark.parametrize("on, expected", [
    # Scope: C1 C2 C3 C4 C5 C7 (C6 closed in August). Owed now 600+0+1500+800+900+0 = 3800.
    pytest.param(D, Progress(
        recovered=money("950.00"),  # C1 400 + C3 200 + C5 100 + C7 250
        recovered_to_date=money("1750.00"),  # the above + C2 500 + C3 300
        arrears=money("5550.00"), recovery_rate=money("0.3153"),  # 1750 / (3800 + 1750)
        promises_kept=1, promises_broken=1, cases_closed=1,  # C7: paid on 5 Oct, recorded on 7 Oct
    ), id="5-oct"),
    pytest.param(day(10, 4), Progress(
        recovered=money("0.00"), recovered_to_date=money("800.00"),  # C2 500 + C3 300
        # Owed on 4 Oct: 3800 now + 950 paid after it.
        arrears=money("5550.00"), recovery_rate=money("0.1441"),  # 800 / 5550
        promises_kept=0, promises_broken=1, cases_closed=0,
    ), id="4-oct"),
    pytest.param(day(10, 3), Progress(
        recovered=money("800.00"), recovered_to_date=money("800.00"), arrears=money("5550.00"),
        recovery_rate=money("0.1441"), promises_kept=0, promises_broken=0, cases_closed=1,  # C2
    ), id="3-oct"),
])
def test_community_progress_counts_open_and_recently_closed_cases(collection, on, expected):
    assert community_progress(book_for(collection, on, on), on) == expected


def test_each_collector_is_credited_with_the_cases_they_held_when_the_owner_paid(collection):
    rows = collector_progress(book_for(collection, D, D), D)

    assert {row.collector.id: figures(row.progress) for row in rows} == COLLECTORS_ON_5_OCT


def test_a_reassigned_case_counts_for_its_new_collector_from_the_day_of_reassignment(collection):
    on = day(10, 4)
    rows = {row.collector.id: row.progress for row in collector_progress(book_for(collection, on, on), on)}

    assert rows["zhang"].promises_broken == 1 and rows["wang"].promises_broken == 0
    assert rows["zhang"].arrears == money("1950.00") and rows["wang"].arrears == money("800.00")


def test_a_supervisor_without_cases_is_not_listed_among_the_collectors(collection):
    assert "chen" not in {row.collector.id for row in collector_progress(book_for(collection, D, D), D)}


def test_progress_built_by_the_domain_counts_a_kept_promise_a_broken_one_and_a_paid_up_case(engine):
    def owner(name: str, phone: str, unit: str) -> OpenCase:
        return OpenCase(COMMUNITY, money("1000.00"), OwnerDetails(name, phone, None), building="1",
                        unit_number=unit, fee_period="2026", due_date=day(8, 31))

    with engine.begin() as connection:
        paying = handlers.open_case(connection, owner("王芳", "+8613800138001", "101"), "tester", SEP_1)
        silent = handlers.open_case(connection, owner("周杰", "+8613800138002", "102"), "tester", SEP_1)
        record_promise(connection, paying, D, None, "staff", day(10, 1))
        record_promise(connection, silent, day(10, 3), None, "sms", day(10, 1))
    sweep(engine, local(day(10, 4), 9))  # the silent owner's promise is broken the day after its date
    with engine.begin() as connection:
        unit = register.find_unit(connection, register.UnitRecord(COMMUNITY, "1", "101"))
        accounts.record_payment(connection, accounts.PaymentIn(
            COMMUNITY, unit.id, money("1000.00"), D, "R-1", "staff"), D, "tester")
    book = book_for(engine, day(10, 4), D)

    # On 4 Oct both owe 1000 (the 1000 paid on 5 Oct was still owed).
    assert community_progress(book, day(10, 4)) == Progress(
        money("0"), money("0"), money("2000.00"), money("0.0000"), 0, 1, 0)
    assert community_progress(book, D) == Progress(
        money("1000.00"), money("1000.00"), money("2000.00"), money("0.5000"), 1, 0, 1)


# --- ranking ---------------------------------------------------------------------------------------

def test_collectors_are_ranked_by_recovery_rate_and_one_without_cases_is_unranked(collection):
    standings = ranking(book_for(collection, D - timedelta(days=2), D), D)

    assert [(s.collector.id, s.rank) for s in standings] == [
        ("li", 1), ("zhang", 2), ("wang", 3), ("zhao", None)]


def test_collectors_with_equal_figures_share_a_rank(collection):
    on = day(10, 4)  # zhang and wang both at 0.0000 with nothing paid that day; li at 500/1500

    standings = ranking(book_for(collection, on, on), on, bottom=1, days=1)

    assert {s.collector.id: s.rank for s in standings} == {"li": 1, "zhang": 2, "wang": 2, "zhao": None}


# Rates: 3 Oct li .3333, wang .1071, zhang 0; 4 Oct li .3333, zhang 0 = wang 0; 5 Oct li .6, zhang .2308, wang 0.
@pytest.mark.parametrize("bottom, days, flagged, days_at_bottom", [
    (1, 1, {"wang"}, {"li": 0, "zhang": 0, "wang": 1}),
    (1, 2, {"wang"}, {"li": 0, "zhang": 0, "wang": 2}),  # 5 Oct and (tied with zhang) 4 Oct
    (1, 3, set(), {"li": 0, "zhang": 0, "wang": 2}),  # on 3 Oct zhang was last, not wang
    (2, 3, {"zhang", "wang"}, {"li": 0, "zhang": 3, "wang": 3}),
    (3, 3, set(), {"li": 0, "zhang": 0, "wang": 0}),  # three ranked: nobody is "at the bottom 3"
])
def test_collectors_at_the_bottom_every_day_of_the_run_are_flagged(collection, bottom, days, flagged,
                                                                     days_at_bottom):
    standings = ranking(book_for(collection, D - timedelta(days=days - 1), D), D, bottom=bottom, days=days)

    assert {s.collector.id for s in standings if s.flagged} == flagged
    assert {s.collector.id: s.days_at_bottom for s in standings if s.rank is not None} == days_at_bottom


# --- stage funnel -----------------------------------------------------------------------------------

def test_the_funnel_counts_each_stage_reached_in_the_period_and_those_paid_within_30_days(engine):
    with engine.begin() as connection:
        build_funnel_world(connection)
        stages = funnel(connection, find_community(connection, COMMUNITY), day(9, 1), day(9, 30), D)

    assert [(s.stage, s.reached, s.paid_in_time, s.still_counting, s.conversion) for s in stages] \
        == SEPTEMBER_FUNNEL


@pytest.mark.parametrize("days_to_pay, reason, converted", [
    (0, "paid", 1),
    (30, "paid", 1),
    (31, "paid", 0),
    (10, "withdrawn", 0),
])
def test_a_stage_converts_only_when_the_case_is_paid_in_full_within_30_days(engine, days_to_pay, reason,
                                                                            converted):
    entered = day(9, 10)
    settled = entered + timedelta(days=days_to_pay)
    with engine.begin() as connection:
        world = World(connection)
        world.case("L1", "0.00", day(8, 1), closed_at=local(settled + timedelta(days=3)), reason=reason)
        world.stage("L1", "lawyer_letter", entered)
        world.pay("L1", "1000.00", settled)
        stages = funnel(connection, find_community(connection, COMMUNITY), entered, entered, day(11, 30))

    letter = next(s for s in stages if s.stage == "lawyer_letter")
    assert (letter.reached, letter.paid_in_time, letter.conversion) == (1, converted, Decimal(converted))


# --- the report every few days ----------------------------------------------------------------------

@pytest.fixture
def meeting(engine):
    with engine.begin() as connection:
        build_meeting_world(connection)
    return engine


def meeting_report(engine):
    with engine.connect() as connection:
        return periodic_report(connection, find_community(connection, COMMUNITY), PERIOD, D, EVENING)


def test_the_periodic_report_sets_each_figure_beside_the_previous_period(meeting):
    trend = {t.figure: (t.current, t.previous, t.change) for t in meeting_report(meeting).trend}

    assert trend == {
        "recovered": (money("400.00"), money("700.00"), money("-300.00")),  # A 300 + Z 100 | A 200 + B 500
        "cases_closed": (1, 1, 0),
        "promises_kept": (1, 0, 1),
        "promises_broken": (1, 1, 0),
        "issues_opened": (3, 2, 1),
        "issues_resolved": (2, 0, 2),
        "deadlines_breached": (2, 1, 1),  # repairs and the second leak | noise
    }


def test_the_periodic_report_counts_issues_by_category(meeting):
    counts = {i.category: (i.opened, i.resolved, i.open_at_end) for i in meeting_report(meeting).issues}

    assert {c: n for c, n in counts.items() if n != (0, 0, 0)} == {
        "leaks": (2, 1, 1), "repairs": (0, 1, 0), "greenery": (1, 0, 1), "noise": (0, 0, 1)}
    assert len(counts) == 11  # every category, so the table has the same rows at every meeting


def test_the_periodic_report_lists_broken_promises_with_what_was_promised(meeting):
    broken = meeting_report(meeting).broken_promises

    assert [(b.promise_id, b.case_id, b.amount, b.broken_on) for b in broken] == [
        ("P-broken", "A", money("700.00"), D)]


@pytest.mark.parametrize("now, breached", [
    (EVENING, ["repairs", "leaks"]),
    (local(D, 7), ["repairs"]),  # the leak's deadline (08:00) has not passed yet
])
def test_a_deadline_is_breached_only_once_it_has_passed_unresolved(meeting, now, breached):
    with meeting.connect() as connection:
        found = breached_deadlines(connection, find_community(connection, COMMUNITY), PERIOD, now)

    assert [b.category for b in found] == breached


# --- over HTTP ---------------------------------------------------------------------------------------

@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "cases")
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=str(tmp_path))
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: EVENING})
    engine = app.extensions["cases.db"]
    for community in (COMMUNITY, "river-view"):
        add_community(engine, community)
    with engine.begin() as connection:
        build_collection_world(connection)
    yield app
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def token(app, sub: str, role: str, communities=(COMMUNITY,)) -> dict:
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], sub, role, communities)}"}


def test_daily_progress_defaults_to_the_communitys_today(app, client):
    body = client.get(f"/api/v1/reports/daily?community={COMMUNITY}", headers=token(app, "chen", "supervisor"))

    assert body.status_code == 200, body.get_json()
    report = body.get_json()
    assert report["date"] == "2026-10-05"
    assert report["community_progress"]["recovered"] == "950.00"
    assert report["community_progress"]["recovery_rate"] == "0.3153"
    zhang = next(c for c in report["collectors"] if c["staff_id"] == "zhang")
    assert (zhang["name"], zhang["recovery_rate"], zhang["cases_closed"]) == ("张伟", "0.2308", 1)


@pytest.mark.parametrize("sub, role, seen", [
    ("li", "collector", ["li"]),
    ("li.user", "collector", ["li"]),  # a token may name the collector by username
    ("chen", "supervisor", ["li", "zhang", "wang", "zhao"]),
    ("boss", "manager", ["li", "zhang", "wang", "zhao"]),
])
@pytest.mark.parametrize("report", ["daily", "ranking"])
def test_a_collector_sees_only_their_own_row_and_supervisors_see_everyone(app, client, sub, role, seen, report):
    response = client.get(f"/api/v1/reports/{report}?community={COMMUNITY}&date=2026-10-05",
                          headers=token(app, sub, role))

    assert response.status_code == 200
    assert sorted(c["staff_id"] for c in response.get_json()["collectors"]) == sorted(seen)


@pytest.mark.parametrize("path", [
    "/api/v1/reports/daily?community=lakeside-garden",
    "/api/v1/reports/ranking?community=lakeside-garden",
    "/api/v1/reports/funnel?community=lakeside-garden",
    "/api/v1/reports/periodic?community=lakeside-garden",
    "/api/v1/reports/daily?community=nowhere",
])
def test_reports_of_a_community_you_do_not_work_in_look_missing(app, client, path):
    response = client.get(path, headers=token(app, "other", "collector", ("river-view",)))

    assert response.status_code == 404
    assert set(response.get_json()) == {"code", "status", "message", "errors"}


def test_reports_need_a_staff_token(client):
    assert client.get(f"/api/v1/reports/daily?community={COMMUNITY}").status_code == 401


@pytest.mark.parametrize("query, field", [
    ("reports/daily?community=lakeside-garden&date=5-Oct", "date"),
    ("reports/daily?community=lakeside-garden&format=xlsx", "format"),
    ("reports/daily?date=2026-10-05", "community"),
    ("reports/daily?community=lakeside-garden&colour=red", "colour"),
    ("reports/ranking?community=lakeside-garden&bottom=0", "bottom"),
    ("reports/ranking?community=lakeside-garden&days=32", "days"),
    ("reports/funnel?community=lakeside-garden&since=2026-10-01&until=2026-09-01", "since"),
    ("reports/funnel?community=lakeside-garden&since=2026-10-06", "since"),  # after today, the default until
    ("reports/funnel?community=lakeside-garden&since=2024-01-01&until=2026-01-01", "since"),
    ("reports/funnel?community=lakeside-garden&since=2024-01-01", "since"),  # over a year before today
    ("reports/periodic?community=lakeside-garden&days=0", "days"),
])
def test_bad_report_arguments_are_refused_with_422_naming_the_field(app, client, query, field):
    response = client.get(f"/api/v1/{query}", headers=token(app, "chen", "supervisor"))

    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def read_csv(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_daily_csv_has_a_bom_and_reads_back_with_chinese_headings(app, client):
    response = client.get(f"/api/v1/reports/daily?community={COMMUNITY}&format=csv",
                          headers=token(app, "chen", "supervisor"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="daily-lakeside-garden-2026-10-05.csv"'
    rows = read_csv(response)
    assert rows[0][:4] == ["范围", "员工编号", "姓名", "回收金额"]
    assert rows[1] == ["小区", COMMUNITY, COMMUNITY, "950.00", "1750.00", "5550.00", "0.3153", "1", "1", "1"]
    assert ["收费员", "li", "李娜", "400.00", "900.00", "1500.00", "0.6000", "1", "0", "0"] in rows
    assert ["收费员", "zhao", "赵敏", "0.00", "0.00", "0.00", "", "0", "0", "0"] in rows


def test_the_ranking_csv_flags_the_collector_at_the_bottom_days_running(app, client):
    response = client.get(f"/api/v1/reports/ranking?community={COMMUNITY}&bottom=1&days=2&format=csv",
                          headers=token(app, "chen", "supervisor"))

    rows = read_csv(response)
    flagged = rows[0].index("连续靠后")
    assert [(row[0], row[1], row[flagged]) for row in rows[1:]] == [
        ("1", "li", "否"), ("2", "zhang", "否"), ("3", "wang", "是"), ("", "zhao", "否")]


def test_the_periodic_csv_reads_back_as_one_table_per_section(app, client):
    with app.extensions["cases.db"].begin() as connection:
        build_funnel_world(connection)
    response = client.get(f"/api/v1/reports/periodic?community={COMMUNITY}&days=3&format=csv",
                          headers=token(app, "chen", "supervisor"))

    sections, current = [], []
    for row in read_csv(response):
        if row:
            current.append(row)
        else:
            sections.append(current)
            current = []
    sections.append(current)
    assert [s[0][0] for s in sections] == ["指标", "类别", "问题编号", "承诺编号", "阶段"]
    trend = {row[0]: row[1:] for row in sections[0][1:]}
    # 3-5 Oct: C1 400 + C2 500 + C3 300 + C3 200 + C5 100 + C7 250; 30 Sep - 2 Oct: nothing.
    assert trend["回收金额"] == ["1750.00", "0.00", "1750.00"]
    assert trend["承诺未兑现"] == ["2", "0", "2"]


def test_the_funnel_over_http_defaults_to_the_30_days_up_to_today(app, client):
    with app.extensions["cases.db"].begin() as connection:
        build_funnel_world(connection)
    response = client.get(f"/api/v1/reports/funnel?community={COMMUNITY}&since=2026-09-01&until=2026-09-30",
                          headers=token(app, "li", "collector"))
    default = client.get(f"/api/v1/reports/funnel?community={COMMUNITY}", headers=token(app, "li", "collector"))

    stages = {s["stage"]: (s["reached"], s["paid_in_time"], s["conversion"]) for s in response.get_json()["stages"]}
    assert stages["notice"] == (5, 2, "0.4000") and stages["lawyer_letter"] == (4, 1, "0.2500")
    assert (default.get_json()["since"], default.get_json()["until"]) == ("2026-09-06", "2026-10-05")
