"""The managers' dashboard: its data endpoint (the reports' own figures, one community at a time) and its page."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from services.cases import owner_issue
from services.cases.app import create_app
from services.cases.tables import campaigns, owners
from shared.auth import issue_token
from shared.db import make_engine
from tests.unit.report_builders import COMMUNITY, EVENING, D, World, build_collection_world, day, local
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment

ELSEWHERE = "river-view"


def seed(connection) -> None:
    """The report tests' collection world, plus what the other panels show, and a neighbour's data."""
    build_collection_world(connection)
    needing_attention(connection)
    neighbour(connection)


def needing_attention(connection) -> None:
    """An unreachable owner, a promise due on D, a breached lifts issue, a running campaign."""
    world = World(connection)
    world.case("U1", "700.00", owner_name="联系不上")
    connection.execute(update(owners).where(owners.c.id == "owner-U1").values(contact_status="unreachable"))
    world.promise("C4", "open", D + timedelta(days=1), promise_id="P-due")  # promised for D
    owner_issue.open_issue(connection, owner_id="owner-C4", community=COMMUNITY, case_id="C4", category="lifts",
                           description="电梯坏了", source="staff", actor="li", now=local(day(10, 3), 9))
    connection.execute(campaigns.insert().values(
        id="autumn", name="秋季冲刺", starts_on=day(10, 1), ends_on=day(12, 31), sends_per_day=2,
        target_recovery_rate="0.5000", communities=[COMMUNITY], created_at=local(day(9, 30))))


def neighbour(connection) -> None:
    neighbour = World(connection, ELSEWHERE)
    neighbour.staff_member("outsider", "外人")
    neighbour.case("X9", "9999.00", owner_name="隔壁业主")
    neighbour.assign("X9", "outsider", "9999.00", local(day(9, 2)))
    neighbour.pay("X9", "4321.00", D)
    connection.execute(update(owners).where(owners.c.id == "owner-X9").values(contact_status="unreachable"))
    neighbour.promise("X9", "open", D + timedelta(days=1), promise_id="P-neighbour")
    neighbour.promise("X9", "broken", D, promise_id="P-neighbour-broken")
    owner_issue.open_issue(connection, owner_id="owner-X9", community=ELSEWHERE, case_id="X9", category="noise",
                           description="吵", source="staff", actor="outsider", now=local(day(10, 1), 9))
    connection.execute(campaigns.insert().values(
        id="theirs", name="隔壁冲刺", starts_on=day(10, 1), ends_on=day(12, 31), sends_per_day=2,
        target_recovery_rate="0.5000", communities=[ELSEWHERE], created_at=local(day(9, 30))))


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "cases")
    engine = make_engine(url)
    add_community(engine, COMMUNITY)
    add_community(engine, ELSEWHERE)
    with engine.begin() as connection:
        seed(connection)
    engine.dispose()
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY="cases-secret")
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: EVENING})
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def as_staff(app, role: str, communities=(COMMUNITY,), sub: str = "someone") -> dict:
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], sub, role, communities)}"}


def dashboard(client, headers, **query):
    response = client.get("/api/v1/dashboard", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_dashboard_shows_the_same_figures_as_the_reports(app, client):
    manager = as_staff(app, "manager")

    board = dashboard(client, manager, community=COMMUNITY)

    daily = client.get("/api/v1/reports/daily", query_string={"community": COMMUNITY}, headers=manager).get_json()
    ranking = client.get("/api/v1/reports/ranking", query_string={"community": COMMUNITY},
                         headers=manager).get_json()
    funnel = client.get("/api/v1/reports/funnel", query_string={"community": COMMUNITY}, headers=manager).get_json()
    assert board["date"] == str(D)
    assert board["today"] == daily["community_progress"]
    assert board["today"]["recovered"] == "950.00"  # C1 400 + C3 200 + C5 100 + C7 250 (report_builders)
    assert [(r["staff_id"], r["rank"], r["recovery_rate"], r["flagged"]) for r in board["ranking"]["collectors"]] \
        == [(r["staff_id"], r["rank"], r["recovery_rate"], r["flagged"]) for r in ranking["collectors"]]
    assert board["funnel"]["stages"] == funnel["stages"]
    # October so far: 800 on the 3rd (C2 500, C3 300), 950 on the 5th.
    assert [(d["date"], d["recovered"]) for d in board["month"]["days"]] == [
        ("2026-10-01", "0.00"), ("2026-10-02", "0.00"), ("2026-10-03", "800.00"), ("2026-10-04", "0.00"),
        ("2026-10-05", "950.00")]
    assert board["month"]["recovered"] == "1750.00"


def test_the_dashboard_lists_what_needs_attention_today(app, client):
    board = dashboard(client, as_staff(app, "manager"), community=COMMUNITY)

    assert [c["name"] for c in board["campaigns"]] == ["秋季冲刺"]
    assert board["campaigns"][0]["progress"]["target_recovery_rate"] == "0.5000"
    lifts = next(c for c in board["issues"]["by_category"] if c["category"] == "lifts")
    assert lifts == {"category": "lifts", "open": 1, "breached": 1}  # 24 hours from 3 Oct 09:00
    assert [i["category"] for i in board["issues"]["breached"]] == ["lifts"]
    assert [p["promise_id"] for p in board["promises"]["due_today"]] == ["P-due"]
    # Broken in the last 7 days: C3's on 4 Oct and C4's on 5 Oct (report_builders).
    assert sorted(p["case_id"] for p in board["promises"]["broken"]) == ["C3", "C4"]
    assert board["unreachable"] == {"total": 1, "owners": [
        {"owner_id": "owner-U1", "name": "联系不上", "case_id": "U1", "amount_owed": "700.00"}]}


def test_another_communitys_data_never_appears_on_the_dashboard(app, client):
    body = json.dumps(dashboard(client, as_staff(app, "manager"), community=COMMUNITY), ensure_ascii=False)

    for theirs in (ELSEWHERE, "X9", "owner-X9", "隔壁业主", "外人", "outsider", "4321.00", "9999.00", "P-neighbour",
                   "隔壁冲刺"):
        assert theirs not in body
    refused = client.get("/api/v1/dashboard", query_string={"community": ELSEWHERE}, headers=as_staff(app, "manager"))
    missing = client.get("/api/v1/dashboard", query_string={"community": "no-such"}, headers=as_staff(app, "manager"))
    assert refused.status_code == 404 and refused.get_json() == missing.get_json()


def test_a_campaign_over_a_community_the_caller_does_not_work_in_stays_off_their_dashboard(app, client):
    with app.extensions["cases.db"].begin() as connection:
        connection.execute(update(campaigns).where(campaigns.c.id == "autumn")
                           .values(communities=[COMMUNITY, ELSEWHERE]))

    assert dashboard(client, as_staff(app, "manager"), community=COMMUNITY)["campaigns"] == []
    both = as_staff(app, "manager", (COMMUNITY, ELSEWHERE))
    assert [c["id"] for c in dashboard(client, both, community=COMMUNITY)["campaigns"]] == ["autumn"]


def test_the_community_picker_offers_the_callers_communities_and_defaults_to_the_first(app, client):
    one = dashboard(client, as_staff(app, "supervisor"))
    both = dashboard(client, as_staff(app, "manager", (ELSEWHERE, COMMUNITY)))
    admin = dashboard(client, as_staff(app, "admin", ()), community=ELSEWHERE)

    assert [c["id"] for c in one["communities"]] == [COMMUNITY] and one["community"]["id"] == COMMUNITY
    assert [c["id"] for c in both["communities"]] == [COMMUNITY, ELSEWHERE]
    assert admin["community"]["id"] == ELSEWHERE and admin["today"]["recovered"] == "4321.00"


def test_a_collector_sees_only_their_own_row_of_the_ranking(app, client):
    board = dashboard(client, as_staff(app, "collector", sub="li"), community=COMMUNITY)

    assert [(r["staff_id"], r["rank"], r["recovery_rate"]) for r in board["ranking"]["collectors"]] \
        == [("li", 1, "0.6000")]


def test_a_staff_member_without_a_community_gets_a_404(app, client):
    response = client.get("/api/v1/dashboard", headers=as_staff(app, "manager", ()))

    assert response.status_code == 404 and set(response.get_json()) == {"code", "status", "message", "errors"}


def test_unknown_query_arguments_are_refused(app, client):
    response = client.get("/api/v1/dashboard", query_string={"community": COMMUNITY, "since": "2026-01-01"},
                          headers=as_staff(app, "manager"))

    assert response.status_code == 422 and "since" in response.get_json()["errors"]


def test_the_page_and_its_assets_come_from_cases_itself(client):
    page = client.get("/dashboard")

    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'data-messages="([^"]+)"', html)
              if a != "data:,"]  # the empty favicon
    assert sorted(assets) == ["/dashboard/static/charts.js", "/dashboard/static/dashboard.css",
                              "/dashboard/static/dashboard.js", "/dashboard/static/messages.json"]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", served.get_data(as_text=True)), asset
        served.close()


def test_both_languages_have_every_label():
    from services.cases.dashboard.report_email import catalogue

    labels = catalogue()
    assert set(labels) == {"zh-CN", "en"} and set(labels["zh-CN"]) == set(labels["en"])
    assert labels["zh-CN"]["ranking"] != labels["en"]["ranking"]
