"""The cases API refuses bad requests in the one error shape and writes nothing for them."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.cases.app import create_app
from services.cases.tables import cases, outbox, owners
from shared.auth import issue_token
from shared.envelope import decode
from tests.unit.sqlite_services import (
    add_community,
    migrated_database,
    root_logging_kept,
    row_count,
    set_environment,
)

CASES = "/api/v1/cases"
ERROR_KEYS = {"code", "status", "message", "errors"}


def valid_case(**changes) -> dict:
    owner = {"name": "王芳", "phone": "13800138001", "email": "Wang.Fang@Example.com", "locale": "zh-CN"}
    body = {"community": "lakeside-garden", "amount_owed": "2860.00", "owner": owner}
    for key, value in changes.items():
        if key.startswith("owner_"):
            owner[key.removeprefix("owner_")] = value
        else:
            body[key] = value
    return body


def dropped(body: dict, key: str) -> dict:
    if key.startswith("owner."):
        name = key.removeprefix("owner.")
        return {**body, "owner": {k: v for k, v in body["owner"].items() if k != name}}
    return {k: v for k, v in body.items() if k != key}


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "cases")
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=str(tmp_path))
    with root_logging_kept():
        app = create_app()
    for community in ("lakeside-garden", "river-view"):
        add_community(app.extensions["cases.db"], community)
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def staff(app):
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 'tester', 'admin')}"}


def stored(app) -> tuple[int, int, int]:
    engine = app.extensions["cases.db"]
    return row_count(engine, cases), row_count(engine, owners), row_count(engine, outbox)


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status
    assert response.is_json, response.data
    body = response.get_json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == status and body["status"] and body["message"]
    return body


@pytest.mark.parametrize("request_kwargs, status", [
    pytest.param({"data": '{"community": "lakeside-garden",', "content_type": "application/json"}, 400,
                 id="truncated-json"),
    # `null` is JSON, just not a case: 422 like any other body of the wrong type.
    pytest.param({"data": "null", "content_type": "application/json"}, 422, id="json-null"),
    pytest.param({"data": {"community": "lakeside-garden"}}, 415, id="form-body"),
    pytest.param({"data": json.dumps(valid_case()), "content_type": "text/plain"}, 415, id="text-plain"),
    pytest.param({"data": json.dumps(valid_case())}, 415, id="no-content-type"),
])
def test_a_body_that_is_not_json_is_refused_and_nothing_is_written(app, client, staff, request_kwargs, status):
    response = client.post(CASES, headers=staff, **request_kwargs)

    assert_error_shape(response, status)
    assert stored(app) == (0, 0, 0)


@pytest.mark.parametrize("body, field", [
    pytest.param(valid_case(priority="high"), "priority", id="unknown-field"),
    pytest.param(valid_case(owner_nickname="Fang"), "owner", id="unknown-owner-field"),
    pytest.param(dropped(valid_case(), "community"), "community", id="missing-community"),
    pytest.param(dropped(valid_case(), "amount_owed"), "amount_owed", id="missing-amount"),
    pytest.param(dropped(valid_case(), "owner"), "owner", id="missing-owner"),
    pytest.param(dropped(valid_case(), "owner.name"), "owner", id="missing-owner-name"),
    pytest.param(valid_case(amount_owed="lots"), "amount_owed", id="amount-not-a-number"),
    pytest.param(valid_case(amount_owed=[1]), "amount_owed", id="amount-a-list"),
    pytest.param(valid_case(community=42), "community", id="community-a-number"),
    pytest.param(valid_case(owner="王芳"), "owner", id="owner-a-string"),
    pytest.param(valid_case(owner_phone="12345"), "owner", id="phone-too-short"),
    pytest.param(valid_case(owner_phone="call me"), "owner", id="phone-not-a-number"),
    pytest.param(valid_case(owner_email="not-an-address"), "owner", id="email-invalid"),
    pytest.param(valid_case(owner_locale="fr"), "owner", id="locale-unknown"),
    pytest.param(valid_case(amount_owed="-5.00"), "amount_owed", id="amount-negative"),
    pytest.param(valid_case(amount_owed="0"), "amount_owed", id="amount-zero"),
    pytest.param(valid_case(community=""), "community", id="community-empty"),
])
def test_an_invalid_case_is_refused_with_422_naming_the_field_and_nothing_is_written(
        app, client, staff, body, field):
    response = client.post(CASES, json=body, headers=staff)

    error = assert_error_shape(response, 422)
    assert field in error["errors"]
    assert stored(app) == (0, 0, 0)


def test_a_json_array_is_refused_with_422(app, client, staff):
    response = client.post(CASES, json=[valid_case()], headers=staff)

    assert "_schema" in assert_error_shape(response, 422)["errors"]
    assert stored(app) == (0, 0, 0)


def test_a_body_over_the_size_limit_is_refused_with_413_and_nothing_is_written(app, client, staff):
    oversized = json.dumps(valid_case(owner_name="x" * app.config["MAX_CONTENT_LENGTH"]))

    response = client.post(CASES, data=oversized, content_type="application/json", headers=staff)

    assert_error_shape(response, 413)
    assert stored(app) == (0, 0, 0)


def test_a_valid_case_is_created_with_its_event_and_first_reminder_request(app, client, staff):
    response = client.post(CASES, json=valid_case(), headers=staff)

    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert response.headers["Location"] == f"{CASES}/{created['id']}"
    contacts = {(c["channel"], c["address"], c["status"]) for c in created["owner"]["contacts"]}
    assert contacts == {("sms", "+8613800138001", "ok"), ("email", "wang.fang@example.com", "ok")}
    assert created["amount_owed"] == "2860.00" and created["status"] == "open"
    assert stored(app) == (1, 1, 2)
    with app.extensions["cases.db"].connect() as connection:
        bodies = connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
    events = [decode(body) for body in bodies]
    assert [e.type for e in events] == ["case.opened", "reminder.requested"]
    assert {e.payload["case_id"] for e in events} == {created["id"]}
    assert events[1].payload["channels"] == ["sms", "email"]
    assert events[1].payload["recipient"]["phone"] == "+8613800138001"


def test_an_owner_with_no_phone_or_email_gets_a_case_but_no_reminder_request(app, client, staff):
    response = client.post(CASES, json=valid_case(owner_phone=None, owner_email=None), headers=staff)

    assert response.status_code == 201
    with app.extensions["cases.db"].connect() as connection:
        assert [row.routing_key for row in connection.execute(outbox.select())] == ["case.opened"]


def test_the_same_owner_opened_twice_keeps_one_owner_and_one_open_case(app, client, staff):
    first = client.post(CASES, json=valid_case(), headers=staff).get_json()
    second = client.post(CASES, json=valid_case(owner_phone="+86 138 0013 8001"), headers=staff).get_json()

    assert first["owner"]["id"] == second["owner"]["id"]
    assert first["id"] == second["id"]
    # The repeat changed nothing, so it announced nothing either.
    assert stored(app) == (1, 1, 2)


def test_an_unknown_route_answers_in_the_error_shape(client, staff):
    assert_error_shape(client.get("/api/v1/nowhere", headers=staff), 404)


def test_a_wrong_method_is_405_naming_the_allowed_methods(client, staff):
    response = client.delete(CASES, headers=staff)

    assert_error_shape(response, 405)
    assert set((response.headers.get("Allow") or "").replace(" ", "").split(",")) >= {"GET", "POST"}


def test_healthz_answers_200(client):
    response = client.get("/healthz")

    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_every_response_echoes_the_callers_correlation_id(client):
    response = client.get("/healthz", headers={"X-Correlation-ID": "corr-from-caller"})

    assert response.headers["X-Correlation-ID"] == "corr-from-caller"
