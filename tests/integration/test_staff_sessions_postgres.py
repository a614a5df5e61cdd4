"""Sign-ins on PostgreSQL: what is stored, and a refresh racing a change to the account."""
from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.cases import people
from services.cases.app import create_app
from services.cases.tables import staff_sessions
from shared.auth import issue_token, read_token
from tests import support
from tests.unit.sqlite_services import add_community, root_logging_kept, set_environment

pytestmark = pytest.mark.postgres
COMMUNITY = "lakeside-garden"
NOW = datetime(2025, 6, 15, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SECRET = "sessions-secret"
LIFETIME = timedelta(hours=12)


@pytest.fixture
def app(postgres_url, tmp_path, monkeypatch):
    support.migrate_postgres("cases", postgres_url)
    for name in ("STAFF_TOKEN_MINUTES", "STAFF_SESSION_HOURS"):
        monkeypatch.delenv(name, raising=False)
    set_environment(monkeypatch, CASES_DATABASE_URL=postgres_url, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET)
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: NOW})
    add_community(app.extensions["cases.db"], COMMUNITY)
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def engine(app):
    return app.extensions["cases.db"]


def hire(engine, username: str = "li.ming") -> str:
    with engine.begin() as connection:
        return people.create_staff(connection, people.NewStaff(username, "Li Ming", "collector", (COMMUNITY,),
                                                               PASSWORD), NOW)


def open_session(engine, staff_id: str) -> str:
    with engine.begin() as connection:
        return people.sessions.open_session(connection, staff_id, NOW, LIFETIME).refresh_token


def test_sign_in_refresh_and_deactivation_through_the_api_on_postgresql(app, engine):
    staff_id, client = hire(engine), app.test_client()
    admin = {"Authorization": f"Bearer {issue_token(SECRET, 'admin-1', 'admin')}"}

    signed_in = client.post("/api/v1/auth/token", json={"username": "li.ming", "password": PASSWORD}).get_json()
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": signed_in["refresh_token"]})
    deactivated = client.patch(f"/api/v1/staff/{staff_id}", json={"active": False}, headers=admin)
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": signed_in["refresh_token"]})

    assert refreshed.status_code == 200 and read_token(SECRET, refreshed.get_json()["token"]).sub == staff_id
    assert deactivated.status_code == 200
    assert after.status_code == 401 and set(after.get_json()) == {"code", "status", "message", "errors"}
    with engine.connect() as connection:
        row = connection.execute(select(staff_sessions)).mappings().one()
    assert row["token_digest"] == hashlib.sha256(signed_in["refresh_token"].encode()).hexdigest()
    assert (row["revoked_at"], row["revoked_reason"], row["expires_at"]) == (NOW, "deactivated", NOW + LIFETIME)


@pytest.mark.parametrize("outcome, refreshed", [("commit", False), ("rollback", True)])
def test_a_refresh_waits_for_a_deactivation_in_flight_and_follows_its_outcome(engine, outcome, refreshed):
    staff_id = hire(engine)
    refresh_token = open_session(engine, staff_id)
    results: list = []

    def refresh():
        with engine.begin() as connection:
            results.append(people.sessions.refresh(connection, refresh_token, NOW + timedelta(minutes=1)))

    with engine.connect() as change:
        transaction = change.begin()
        assert people.update_staff(change, staff_id, active=False, now=NOW) == 1
        racer = threading.Thread(target=refresh)
        racer.start()
        racer.join(1.0)
        assert racer.is_alive() and results == []  # held by the revoked row's lock, not answered from before
        getattr(transaction, outcome)()
    racer.join(10)

    assert not racer.is_alive() and len(results) == 1
    assert (results[0] is not None) is refreshed


def test_concurrent_refreshes_of_one_session_all_succeed(engine):
    """No rotation: two requests of one tab renewing at once do not end the sign-in."""
    staff_id = hire(engine)
    refresh_token = open_session(engine, staff_id)
    start, results = threading.Barrier(6), []

    def refresh():
        start.wait()
        with engine.begin() as connection:
            results.append(people.sessions.refresh(connection, refresh_token, NOW + timedelta(minutes=20)))

    racers = [threading.Thread(target=refresh) for _ in range(6)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(10)

    assert [result.staff_id if result else None for result in results] == [staff_id] * 6
