"""Staff tokens: who may open and see which cases."""
from __future__ import annotations

import pytest

from services.cases.app import create_app
from services.cases.tables import cases, outbox, owners
from shared.auth import Staff, issue_token, read_token
from tests.unit.sqlite_services import (
    add_community,
    migrated_database,
    root_logging_kept,
    row_count,
    set_environment,
)

CASES = "/api/v1/cases"
NEW_CASE = {"community": "lakeside-garden", "amount_owed": "1430.50",
            "owner": {"name": "李强", "phone": "+8613800138002"}}


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "cases")
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY="cases-secret")
    with root_logging_kept():
        app = create_app()
    for community in ("lakeside-garden", "river-view"):
        add_community(app.extensions["cases.db"], community)
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(app, role: str = "admin", communities: tuple[str, ...] = (), secret: str | None = None) -> dict:
    token = issue_token(secret or app.config["SECRET_KEY"], "tester", role, communities)
    return {"Authorization": f"Bearer {token}"}


def stored(app) -> tuple[int, int, int]:
    engine = app.extensions["cases.db"]
    return row_count(engine, cases), row_count(engine, owners), row_count(engine, outbox)


def assert_error_shape(response, status: int) -> None:
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == status and body["errors"] == {}


@pytest.fixture
def existing_case(app, client) -> str:
    response = client.post(CASES, json=NEW_CASE, headers=bearer(app))
    assert response.status_code == 201
    return response.get_json()["id"]


def test_opening_a_case_without_a_token_is_401_and_writes_nothing(app, client):
    assert_error_shape(client.post(CASES, json=NEW_CASE), 401)
    assert stored(app) == (0, 0, 0)


@pytest.mark.parametrize("authorization", [
    pytest.param(lambda app: bearer(app, secret="someone-elses-secret")["Authorization"], id="forged"),
    pytest.param(lambda app: "Bearer not-a-token", id="garbage"),
    pytest.param(lambda app: "Bearer ", id="empty"),
    pytest.param(lambda app: bearer(app)["Authorization"].replace("Bearer", "Basic"), id="wrong-scheme"),
    pytest.param(lambda app: bearer(app)["Authorization"][:-2], id="truncated"),
])
def test_opening_a_case_with_a_bad_token_is_401_and_writes_nothing(app, client, authorization):
    response = client.post(CASES, json=NEW_CASE, headers={"Authorization": authorization(app)})

    assert_error_shape(response, 401)
    assert stored(app) == (0, 0, 0)


def test_reading_a_case_without_a_token_is_401(client, existing_case):
    assert_error_shape(client.get(f"{CASES}/{existing_case}"), 401)


def test_a_collector_from_another_community_may_not_open_a_case_there(app, client):
    response = client.post(CASES, json=NEW_CASE, headers=bearer(app, "collector", ("riverside",)))

    assert_error_shape(response, 403)
    assert stored(app) == (0, 0, 0)


def test_a_collector_of_the_community_may_open_a_case_there(app, client):
    response = client.post(CASES, json=NEW_CASE, headers=bearer(app, "collector", ("lakeside-garden",)))

    assert response.status_code == 201
    assert stored(app) == (1, 1, 2)


def test_another_communitys_case_looks_missing_to_a_collector(app, client, existing_case):
    outsider = client.get(f"{CASES}/{existing_case}", headers=bearer(app, "collector", ("riverside",)))
    unknown = client.get(f"{CASES}/no-such-case", headers=bearer(app, "collector", ("riverside",)))

    assert_error_shape(outsider, 404)
    assert outsider.get_json() == unknown.get_json()


def test_a_collector_of_the_community_sees_its_case(app, client, existing_case):
    response = client.get(f"{CASES}/{existing_case}", headers=bearer(app, "collector", ("lakeside-garden",)))

    assert response.status_code == 200 and response.get_json()["id"] == existing_case


def test_the_case_list_shows_a_collector_only_their_communities(app, client, existing_case):
    mine = client.get(CASES, headers=bearer(app, "collector", ("lakeside-garden",))).get_json()
    theirs = client.get(CASES, headers=bearer(app, "collector", ("riverside",))).get_json()

    assert [item["id"] for item in mine["items"]] == [existing_case] and mine["total"] == 1
    assert theirs["items"] == [] and theirs["total"] == 0


def test_a_token_reads_back_as_the_staff_it_was_issued_to():
    token = issue_token("s3cret", "li.ming", "collector", ["lakeside-garden"])

    assert read_token("s3cret", token) == Staff("li.ming", "collector", ("lakeside-garden",))
    assert read_token("another-secret", token) is None


def test_an_expired_token_reads_as_nobody():
    token = issue_token("s3cret", "li.ming", "collector")

    assert read_token("s3cret", token, max_age=-1) is None


def test_a_token_for_an_unknown_role_is_not_issued():
    with pytest.raises(ValueError):
        issue_token("s3cret", "li.ming", "janitor")


@pytest.mark.parametrize("staff, community, visible", [
    (Staff("a", "admin", ()), "lakeside-garden", True),
    (Staff("c", "collector", ("lakeside-garden",)), "lakeside-garden", True),
    (Staff("c", "collector", ("lakeside-garden",)), "riverside", False),
    (Staff("m", "manager", ()), "lakeside-garden", False),
])
def test_only_admins_see_communities_they_are_not_assigned_to(staff, community, visible):
    assert staff.can_see(community) is visible
