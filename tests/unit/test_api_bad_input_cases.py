"""What schemathesis found in the cases API: bad input answered 500 or was taken as good.

Each request here is refused with a 4xx in the one error shape, naming the field, and writes
nothing. The PostgreSQL ones are where SQLite let the input through but PostgreSQL failed the
request with 500 (NUL characters, over-long text, an overflowing amount).
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from services.cases.app import create_app
from services.cases.tables import (
    campaigns,
    cases,
    collection_groups,
    communities,
    outbox,
    owner_issues,
    owners,
    payments,
    promises,
    staff,
    staff_communities,
    units,
)
from shared.auth import issue_token
from tests import support
from tests.unit.sqlite_services import (
    add_community,
    migrated_database,
    root_logging_kept,
    row_count,
    set_environment,
)

ERROR_KEYS = {"code", "status", "message", "errors"}
COMMUNITY = "lakeside-garden"
OWNER = {"name": "王芳", "phone": "13800138001", "email": "wang.fang@example.com"}
FAR_BACK, FAR_AHEAD = "0001-01-01", "9999-12-31"


def new_case(**changes) -> dict:
    return {"community": COMMUNITY, "amount_owed": "2860.00", "building": "3", "unit_number": "1201",
            "owner": {**OWNER, **changes.pop("owner", {})}, **changes}


def build_app(monkeypatch, url: str, data_dir: str):
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=data_dir)
    with root_logging_kept():
        app = create_app()
    add_community(app.extensions["cases.db"], COMMUNITY)
    return app


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = build_app(monkeypatch, migrated_database(tmp_path, "cases"), str(tmp_path))
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(app):
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 'tester', 'admin')}"}


@pytest.fixture
def case_id(client, admin) -> str:
    response = client.post("/api/v1/cases", json=new_case(), headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def refused(response, status: int) -> dict:
    """The one error shape, with `status`; its `errors`."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == ERROR_KEYS and body["code"] == status and body["message"]
    return body["errors"]


def counts(app, *tables) -> tuple[int, ...]:
    return tuple(row_count(app.extensions["cases.db"], table) for table in tables)


# --- the request itself: paths, query strings, JSON bodies ---------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/cases", "/api/v1/issues", "/api/v1/tasks", "/api/v1/inbox",
                                  "/api/v1/staff"])
def test_a_page_number_past_any_page_is_a_422_not_a_500(client, admin, path):
    errors = refused(client.get(f"{path}?page=99999999999999999999", headers=admin), 422)

    assert "page" in errors


def test_a_json_body_nested_past_the_parser_is_a_400(app, client, admin):
    deep = "[" * 100_000 + "]" * 100_000

    refused(client.post("/api/v1/cases", data=deep, content_type="application/json", headers=admin), 400)
    assert counts(app, cases, outbox) == (0, 0)


def test_a_nul_character_in_a_body_is_refused_naming_the_field(app, client, admin):
    errors = refused(client.post("/api/v1/cases", json=new_case(owner={"name": "王\x00芳"}), headers=admin), 422)

    assert errors == {"owner": {"name": ["Must not contain a NUL character."]}}
    assert counts(app, cases, owners, outbox) == (0, 0, 0)


def test_a_nul_character_in_the_query_is_refused_naming_the_parameter(client, admin):
    errors = refused(client.get("/api/v1/cases?community=lake%00side", headers=admin), 422)

    assert errors == {"community": ["Must not contain a NUL character."]}


def test_list_item_errors_beside_the_lists_own_error_still_come_back_in_the_error_shape(app, client, admin):
    # An item's error is keyed by its position (an int) beside the list's own "_schema" error (a
    # community named twice): JSON cannot even sort such keys, so they go out as text.
    body = {"name": "冲刺", "starts_on": "2026-01-01", "ends_on": "2026-02-01", "sends_per_day": 1,
            "target_recovery_rate": 0.5, "communities": [COMMUNITY, COMMUNITY, 7]}

    errors = refused(client.post("/api/v1/campaigns", json=body, headers=admin), 422)

    assert errors["communities"] == {"2": ["Not a valid string."], "_schema": ["Name each community once."]}
    assert counts(app, campaigns) == (0,)


# --- communities ------------------------------------------------------------------------------------

@pytest.mark.parametrize("timezone", ["America", "Asia/" + "x" * 300, "../etc/passwd", ""])
def test_a_timezone_that_is_not_a_zone_is_a_422(app, client, admin, timezone):
    response = client.put("/api/v1/communities/hillside", json={"name": "山景", "timezone": timezone},
                          headers=admin)

    assert "timezone" in refused(response, 422)
    assert counts(app, communities, outbox) == (1, 0)


@pytest.mark.parametrize("body, field", [
    pytest.param({"holiday_calendar": "XX"}, "holiday_calendar", id="unknown-holiday-calendar"),
    pytest.param({"skip_weekends": 0}, "skip_weekends", id="number-for-a-boolean"),
    pytest.param({"skip_weekends": "yes"}, "skip_weekends", id="word-for-a-boolean"),
    pytest.param({"ladder": {"notice": {"offset_days": 10**12}}}, "ladder", id="offset-past-the-calendar"),
    pytest.param({"ladder": {"notice": {"offset_days": "30"}}}, "ladder", id="offset-as-text"),
    pytest.param({"ladder": {"notice": {"channels": [{"sms": 1}]}}}, "ladder", id="channel-not-a-word"),
    pytest.param({"ladder": {"notice": {"needs_approval": 1}}}, "ladder", id="approval-not-a-boolean"),
])
def test_a_community_setting_the_notifier_could_not_use_is_a_422_and_nothing_is_sent(
        app, client, admin, body, field):
    response = client.put("/api/v1/communities/hillside", json={"name": "山景", **body}, headers=admin)

    assert field in refused(response, 422)
    assert counts(app, communities, outbox) == (1, 0)


def test_a_ladder_override_in_range_is_kept(client, admin):
    ladder = {"notice": {"offset_days": 45, "channels": ["letter", "sms"], "needs_approval": True}}

    response = client.put("/api/v1/communities/hillside", json={"name": "山景", "ladder": ladder,
                                                                 "holiday_calendar": "HK"}, headers=admin)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["ladder"] == ladder and response.get_json()["holiday_calendar"] == "HK"


# --- cases, promises, payments, issues, campaigns ---------------------------------------------------

@pytest.mark.parametrize("body, field", [
    pytest.param(new_case(due_date=FAR_BACK), "due_date", id="due-in-year-1"),
    pytest.param(new_case(due_date=FAR_AHEAD), "due_date", id="due-in-year-9999"),
    pytest.param(new_case(owner={"email": "a@" + ".".join(["b" * 60] * 6) + ".cn"}), "owner", id="email-over-320"),
])
def test_a_case_with_a_date_or_address_no_one_can_have_is_a_422(app, client, admin, body, field):
    assert field in refused(client.post("/api/v1/cases", json=body, headers=admin), 422)
    assert counts(app, cases, owners, outbox) == (0, 0, 0)


@pytest.mark.parametrize("body", [
    pytest.param({"promised_date": FAR_AHEAD}, id="year-9999"),
    pytest.param({"promised_date": (date.today() + timedelta(days=400)).isoformat()}, id="over-a-year-ahead"),
    pytest.param({"promised_date": (date.today() + timedelta(days=7)).isoformat(), "amount": "99999999999999"},
                 id="amount-past-any-ledger"),
])
def test_a_promise_that_would_stop_collection_or_overflow_is_a_422(app, client, admin, case_id, body):
    before = counts(app, promises, outbox)

    errors = refused(client.post(f"/api/v1/cases/{case_id}/promises", json=body, headers=admin), 422)

    assert set(errors) <= {"promised_date", "amount"} and errors
    assert counts(app, promises, outbox) == before


def test_a_payment_dated_after_today_is_a_422(app, client, admin, case_id):
    before = counts(app, payments, outbox)
    body = {"community": COMMUNITY, "building": "3", "unit_number": "1201", "amount": "100.00",
            "paid_on": (date.today() + timedelta(days=3)).isoformat(), "receipt": "R-1"}

    assert "paid_on" in refused(client.post("/api/v1/payments", json=body, headers=admin), 422)
    assert counts(app, payments, outbox) == before


@pytest.mark.parametrize("assignee", ["nobody-here", "x" * 80])
def test_an_issue_for_someone_who_is_not_staff_of_the_community_is_a_422(app, client, admin, case_id, assignee):
    body = {"case_id": case_id, "category": "leaks", "description": "楼上漏水", "assignee_id": assignee}

    assert "assignee_id" in refused(client.post("/api/v1/issues", json=body, headers=admin), 422)
    assert counts(app, owner_issues) == (0,)


def test_an_issue_for_active_staff_of_the_community_is_opened(app, client, admin, case_id):
    now = datetime.now(UTC)
    with app.extensions["cases.db"].begin() as connection:
        connection.execute(insert(staff).values(id="col-1", username="col", name="Col", role="collector",
                                                password_hash="x", active=True, created_at=now))
        connection.execute(insert(staff_communities).values(staff_id="col-1", community=COMMUNITY))
    body = {"case_id": case_id, "category": "leaks", "description": "楼上漏水", "assignee_id": "col-1"}

    response = client.post("/api/v1/issues", json=body, headers=admin)

    assert response.status_code == 201 and response.get_json()["assignee_id"] == "col-1"


@pytest.mark.parametrize("changes, field", [
    pytest.param({"communities": ["no-such-place"]}, "communities", id="unknown-community"),
    pytest.param({"communities": [COMMUNITY, COMMUNITY]}, "communities", id="community-twice"),
    pytest.param({"starts_on": "9999-12-01", "ends_on": FAR_AHEAD}, "starts_on", id="year-9999"),
])
def test_a_campaign_over_no_community_or_no_time_is_a_422(app, client, admin, changes, field):
    body = {"name": "年底冲刺", "starts_on": "2026-12-01", "ends_on": "2026-12-31", "sends_per_day": 2,
            "target_recovery_rate": 0.3, "communities": [COMMUNITY], **changes}

    assert field in refused(client.post("/api/v1/campaigns", json=body, headers=admin), 422)
    assert counts(app, campaigns) == (0,)


@pytest.mark.parametrize("leader", ["", "x" * 80])
def test_a_group_led_by_an_empty_or_overlong_id_is_a_422(app, client, admin, leader):
    body = {"name": "一组", "kind": "supervisor_led", "leader_id": leader}

    errors = refused(client.post(f"/api/v1/communities/{COMMUNITY}/groups", json=body, headers=admin), 422)

    assert "leader_id" in errors
    assert counts(app, collection_groups) == (0,)


# --- reports ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    f"daily?date={FAR_AHEAD}", f"daily?date={FAR_BACK}", f"ranking?date={FAR_BACK}&days=31",
    f"funnel?until={FAR_BACK}", f"periodic?until={FAR_AHEAD}", f"periodic?until={FAR_BACK}&format=csv",
])
def test_a_report_for_a_day_off_the_calendar_is_a_422_not_a_500(client, admin, query):
    response = client.get(f"/api/v1/reports/{query}&community={COMMUNITY}", headers=admin)

    assert set(refused(response, 422)) & {"date", "until"}


# --- imports --------------------------------------------------------------------------------------------

def test_an_imported_cell_with_a_nul_character_makes_its_row_bad(app, client, admin):
    csv = ("community,building,unit,owner_ref,owner_name,fee_period,amount_due,due_date\n"
           f"{COMMUNITY},3,12\x0001,O-1,王芳,2026,100.00,2026-01-31\n").encode()

    response = client.post("/api/v1/imports/ledger", data=csv, content_type="text/csv", headers=admin)

    errors = refused(response, 422)
    assert errors == {"2": {"unit": ["Must not contain a NUL character."]}}  # the header is line 1
    assert counts(app, units, owners, cases) == (0, 0, 0)


# --- the OpenAPI document says what the API does ---------------------------------------------------------

def test_the_openapi_document_gives_amounts_as_they_travel(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]

    assert schemas["OpenCaseIn"]["properties"]["amount_owed"] == {
        "type": "number", "minimum": 0, "maximum": 1_000_000_000, "exclusiveMinimum": True}
    assert schemas["CaseOut"]["properties"]["amount_owed"] == {"type": "string", "format": "decimal"}
    assert schemas["ProgressOut"]["properties"]["recovery_rate"]["type"] == "string"
    json.dumps(schemas)  # and nothing in it is a Python object


def test_the_openapi_document_says_which_answered_fields_may_be_null(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]

    # A promise without an amount, not yet kept or broken: both were answered null against a
    # schema that said string.
    assert schemas["PromiseOut"]["properties"]["amount"]["nullable"] is True
    assert schemas["PromiseOut"]["properties"]["resolved_on"]["nullable"] is True
    assert schemas["MessageOut"]["properties"]["error_code"]["nullable"] is True


def test_the_openapi_document_lists_csv_beside_json_for_reports(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    for report in ("daily", "ranking", "funnel", "periodic"):
        content = paths[f"/api/v1/reports/{report}"]["get"]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/csv"}


# --- on PostgreSQL, where these were 500s ------------------------------------------------------------------

@pytest.fixture
def pg_app(postgres_url, tmp_path, monkeypatch):
    support.migrate_postgres("cases", postgres_url)
    app = build_app(monkeypatch, postgres_url, str(tmp_path))
    yield app
    app.extensions["cases.db"].dispose()


@pytest.mark.postgres
def test_on_postgresql_nul_characters_and_overlong_values_are_4xx_and_write_nothing(pg_app):
    client = pg_app.test_client()
    admin = {"Authorization": f"Bearer {issue_token(pg_app.config['SECRET_KEY'], 'tester', 'admin')}"}
    case_id = client.post("/api/v1/cases", json=new_case(), headers=admin).get_json()["id"]
    before = counts(pg_app, cases, owners, promises, owner_issues, collection_groups, outbox)

    refused(client.get("/api/v1/cases/%00", headers=admin), 404)
    refused(client.post("/api/v1/tasks/%00/done", headers=admin), 404)
    refused(client.get("/api/v1/dashboard?community=%00", headers=admin), 422)
    refused(client.post("/api/v1/cases", json=new_case(owner={"phone": "13800138002", "name": "x\x00"}),
                        headers=admin), 422)
    refused(client.post("/api/v1/cases", json=new_case(owner={"email": "a@" + ".".join(["b" * 60] * 6) + ".cn"}),
                        headers=admin), 422)
    refused(client.post(f"/api/v1/cases/{case_id}/promises", headers=admin, json={
        "promised_date": (date.today() + timedelta(days=7)).isoformat(), "amount": "99999999999999"}), 422)
    refused(client.post("/api/v1/issues", headers=admin, json={
        "case_id": case_id, "category": "leaks", "description": "漏水", "assignee_id": "x" * 80}), 422)
    refused(client.post("/api/v1/assignments/auto", json={"community": "\x00"}, headers=admin), 422)
    refused(client.post(f"/api/v1/communities/{COMMUNITY}/groups", headers=admin,
                        json={"name": "一组", "kind": "prior_year", "leader_id": ""}), 422)

    assert counts(pg_app, cases, owners, promises, owner_issues, collection_groups, outbox) == before
