"""Staff have an optional email (where a manager's reports go): migrated in on SQLite and PostgreSQL,
validated at the API, seen only by the person, managers and admins, and never logged in clear."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from services.cases import people
from services.cases.people.staff_accounts import set_email
from services.cases.tables import metadata, staff
from shared.db import make_engine
from shared.logs import JsonFormatter
from shared.migrations import alembic_config
from tests.unit.sqlite_services import (
    cases_app,
    row_count,
)
from tests.unit.test_people import ELSEWHERE, HOME, NOW, PASSWORD, bearer, hire

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "cases" / "migrations"
ADMIN = ("admin-1", "admin", ())


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = cases_app(tmp_path, monkeypatch, lambda: NOW, (HOME, ELSEWHERE))
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def db(app):
    return app.extensions["cases.db"]


@pytest.fixture
def client(app):
    return app.test_client()


# The migration

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cases'}.sqlite"
    return request.getfixturevalue("postgres_url")


def test_0006_adds_an_optional_email_to_existing_staff_and_takes_it_away_again(empty_database):
    config = alembic_config(MIGRATIONS, empty_database)
    command.upgrade(config, "0005")
    engine = make_engine(empty_database)
    with engine.begin() as connection:  # someone appointed before emails existed, working in a community
        connection.execute(text("INSERT INTO staff (id, username, name, role, password_hash, active, created_at) "
                                "VALUES ('s-1', 'li.na', 'Li Na', 'manager', 'x', true, '2026-11-01T00:00:00+00:00')"))
        connection.execute(text("INSERT INTO staff_communities (staff_id, community) VALUES ('s-1', 'lakeside')"))

    command.upgrade(config, "head")

    with engine.connect() as connection:
        [email] = [c for c in inspect(connection).get_columns("staff") if c["name"] == "email"]
        assert email["nullable"] and email["type"].length == 320
        assert connection.execute(select(staff.c.username, staff.c.email)).all() == [("li.na", None)]
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert [d for d in differences if "staff" in repr(d) and "staff_" not in repr(d)] == []
    with engine.begin() as connection:
        set_email(connection, "s-1", "Li.Na@Example.com")
        assert connection.execute(select(staff.c.email)).scalar_one() == "li.na@example.com"

    command.downgrade(config, "0005")

    with engine.connect() as connection:
        assert "email" not in {c["name"] for c in inspect(connection).get_columns("staff")}
        assert connection.execute(text("SELECT username FROM staff")).scalars().all() == ["li.na"]
        assert connection.execute(text("SELECT community FROM staff_communities")).scalars().all() == ["lakeside"]
    engine.dispose()


# The API

def test_an_appointment_with_an_email_stores_it_lowercased_and_shows_it(app, client, db):
    created = client.post("/api/v1/staff", headers=bearer(app, *ADMIN), json={
        "username": "zhao.lei", "name": "Zhao Lei", "role": "manager", "communities": [HOME],
        "email": "Zhao.Lei@Lakeside.Example.COM"})

    assert created.status_code == 201, created.get_json()
    assert created.get_json()["email"] == "zhao.lei@lakeside.example.com"
    shown = client.get(f"/api/v1/staff/{created.get_json()['id']}", headers=bearer(app, *ADMIN)).get_json()
    assert shown["email"] == "zhao.lei@lakeside.example.com"
    with db.connect() as connection:
        assert connection.execute(select(staff.c.email)).scalar_one() == "zhao.lei@lakeside.example.com"


def test_an_appointment_without_an_email_has_none(app, client):
    created = client.post("/api/v1/staff", headers=bearer(app, *ADMIN), json={
        "username": "wang.qiang", "name": "Wang Qiang", "role": "collector", "communities": [HOME]})

    assert created.status_code == 201 and created.get_json()["email"] is None


@pytest.mark.parametrize("email", [
    pytest.param("not-an-address", id="no-at"),
    pytest.param("li@", id="no-domain"),
    pytest.param("li na@example.com", id="space"),
    pytest.param(12345, id="a-number"),
    pytest.param("a" * 64 + "@" + ".".join(["b" * 60] * 5) + ".com", id="over-320"),
])
def test_an_appointment_with_a_bad_email_is_422_and_writes_nothing(app, client, db, email):
    response = client.post("/api/v1/staff", headers=bearer(app, *ADMIN), json={
        "username": "bad.email", "name": "Bad", "role": "collector", "communities": [HOME], "email": email})

    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()) == {"code", "status", "message", "errors"}
    assert "email" in response.get_json()["errors"]
    assert row_count(db, staff) == 0


def test_a_bad_email_in_a_change_is_422_and_changes_nothing(app, client, db):
    collector = hire(db, "wang.qiang")
    with db.begin() as connection:
        set_email(connection, collector, "wang@example.com")

    response = client.patch(f"/api/v1/staff/{collector}", headers=bearer(app, *ADMIN),
                            json={"email": "wang-at-example.com", "active": False})

    assert response.status_code == 422 and "email" in response.get_json()["errors"]
    with db.connect() as connection:
        assert connection.execute(select(staff.c.email, staff.c.active)).one() == ("wang@example.com", True)


def test_a_manager_sets_a_collectors_email_and_null_clears_it(app, client, db):
    manager, collector = hire(db, "li.manager", "manager"), hire(db, "wang.qiang")
    headers = bearer(app, manager, "manager")

    changed = client.patch(f"/api/v1/staff/{collector}", headers=headers, json={"email": "Wang@Example.com"})
    assert changed.status_code == 200 and changed.get_json()["email"] == "wang@example.com"

    cleared = client.patch(f"/api/v1/staff/{collector}", headers=headers, json={"email": None})
    assert cleared.status_code == 200 and cleared.get_json()["email"] is None
    with db.connect() as connection:
        assert connection.execute(select(staff.c.email).where(staff.c.id == collector)).scalar_one() is None


@pytest.mark.parametrize("role", ["collector", "supervisor", "manager"])
def test_anyone_sets_their_own_email(app, client, db, role):
    me = hire(db, f"me.{role}", role)

    response = client.patch(f"/api/v1/staff/{me}", headers=bearer(app, me, role), json={"email": "me@example.com"})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == "me@example.com" and response.get_json()["role"] == role


@pytest.mark.parametrize("who, role, body, status", [
    pytest.param("colleague", "collector", {"email": "x@example.com"}, 403, id="collector-sets-a-colleagues"),
    pytest.param("me", "collector", {"email": "x@example.com", "active": False}, 403, id="own-email-and-more"),
    pytest.param("me", "manager", {"email": "x@example.com", "communities": [HOME, ELSEWHERE]}, 403,
                 id="manager-own-email-and-communities"),
    pytest.param("other_manager", "manager", {"email": "x@example.com"}, 403, id="manager-sets-a-managers"),
    pytest.param("outsider", "manager", {"email": "x@example.com"}, 404, id="another-communitys"),
])
def test_an_email_change_outside_the_rules_is_refused_and_changes_nothing(app, client, db, who, role, body, status):
    me = hire(db, "me", role)
    targets = {"me": me, "colleague": hire(db, "colleague"), "other_manager": hire(db, "other.manager", "manager"),
               "outsider": hire(db, "outsider", communities=(ELSEWHERE,))}

    response = client.patch(f"/api/v1/staff/{targets[who]}", headers=bearer(app, me, role), json=body)

    assert response.status_code == status, response.get_json()
    assert set(response.get_json()) == {"code", "status", "message", "errors"}
    with db.connect() as connection:
        assert connection.execute(select(staff.c.email).where(staff.c.email.is_not(None))).all() == []
        assert connection.execute(select(staff.c.active).where(staff.c.id == me)).scalar_one() is True


def test_collectors_see_colleagues_without_their_email_managers_and_the_person_see_it(app, client, db):
    manager, collector, colleague = hire(db, "li.manager", "manager"), hire(db, "wang.qiang"), hire(db, "zhang.wei")
    with db.begin() as connection:
        for staff_id in (manager, collector, colleague):
            set_email(connection, staff_id, f"{staff_id[:8]}@example.com")

    as_collector = client.get("/api/v1/staff", headers=bearer(app, collector, "collector")).get_json()["items"]
    as_manager = client.get("/api/v1/staff", headers=bearer(app, manager, "manager")).get_json()["items"]
    one = client.get(f"/api/v1/staff/{colleague}", headers=bearer(app, collector, "collector")).get_json()

    assert {s["id"]: s.get("email") for s in as_collector} == {
        manager: None, colleague: None, collector: f"{collector[:8]}@example.com"}
    assert "email" not in one and one["username"] == "zhang.wei"
    assert {s["id"]: s["email"] for s in as_manager} == {s: f"{s[:8]}@example.com"
                                                         for s in (manager, collector, colleague)}


def test_the_api_document_describes_the_email(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]

    assert schemas["StaffIn"]["properties"]["email"]["format"] == "email"
    assert schemas["StaffPatch"]["properties"]["email"]["maxLength"] == 320
    assert "email" in schemas["StaffOut"]["properties"]


def test_an_email_change_is_logged_without_the_address(app, client, db, caplog):
    manager, collector = hire(db, "li.manager", "manager"), hire(db, "wang.qiang")
    caplog.set_level(logging.DEBUG)

    client.post("/api/v1/staff", headers=bearer(app, manager, "manager"), json={
        "username": "zhao.min", "name": "Zhao Min", "role": "collector", "communities": [HOME],
        "email": "zhao.min@lakeside.example.com"})
    changed = client.patch(f"/api/v1/staff/{collector}", headers=bearer(app, manager, "manager"),
                           json={"email": "wang.qiang@lakeside.example.com"})

    assert changed.status_code == 200
    [record] = [r for r in caplog.records if r.getMessage() == "staff email changed"]
    assert record.staff_id == collector and record.by == manager
    lines = "\n".join(JsonFormatter("cases").format(r) for r in caplog.records)
    assert "wang.qiang@" not in lines and "zhao.min@" not in lines
    # Had the address gone into a log line, the formatter would still have masked it.
    leaked = logging.LogRecord("cases", logging.INFO, __file__, 1, "to wang.qiang@lakeside.example.com", None, None)
    leaked.email = "wang.qiang@lakeside.example.com"
    assert "wang.qiang@" not in JsonFormatter("cases").format(leaked)


@pytest.mark.parametrize("given, stored", [(" Li.Na@Example.com ", "li.na@example.com"), ("  ", None), (None, None)])
def test_an_email_is_stored_trimmed_and_lowercased_and_blank_is_none(db, given, stored):
    with db.begin() as connection:
        staff_id = people.create_staff(connection, people.NewStaff("li.na", "Li Na", "manager", (HOME,), PASSWORD,
                                                                   given), NOW)
        assert people.staff_record(connection, staff_id)["email"] == stored
