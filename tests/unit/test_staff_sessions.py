"""Sign-ins that can be taken back: a short access token, and a refresh token cases can revoke.

On SQLite through the API; the storage and race on PostgreSQL are in
tests/integration/test_staff_sessions_postgres.py.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.cases import people
from services.cases.app import create_app
from services.cases.tables import staff, staff_sessions
from shared.auth import Staff, issue_token, read_token
from shared.config import ConfigError, Settings
from tests.unit.sqlite_services import cases_app, migrated_database, root_logging_kept, set_environment

HOME, ELSEWHERE = "lakeside-garden", "river-view"
SIGNED_IN_AT = datetime(2025, 6, 15, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SECRET = "sessions-secret"


class Clock:
    """The time cases believes it is (app.config['CASES_NOW']); tests move it instead of sleeping."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock():
    return Clock(SIGNED_IN_AT)


@pytest.fixture
def app(tmp_path, monkeypatch, clock):
    app = cases_app(tmp_path, monkeypatch, clock, (HOME, ELSEWHERE), SECRET)
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def db(app):
    return app.extensions["cases.db"]


@pytest.fixture
def client(app):
    return app.test_client()


def hire(db, username: str, role: str = "collector", communities=(HOME,)) -> str:
    with db.begin() as connection:
        return people.create_staff(connection, people.NewStaff(username, username.title(), role,
                                                               tuple(communities), PASSWORD), SIGNED_IN_AT)


def bearer(staff_id: str, role: str, communities=(HOME,)) -> dict:
    return {"Authorization": f"Bearer {issue_token(SECRET, staff_id, role, communities)}"}


ADMIN = bearer("admin-1", "admin", ())


def sign_in(client, username: str = "li.ming", password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refresh(client, refresh_token: str):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def assert_session_ended(response) -> None:
    assert response.status_code == 401
    assert response.get_json() == {"code": 401, "status": "Unauthorized", "errors": {},
                                   "message": "This sign-in has ended; sign in again."}


# Signing in

def test_a_sign_in_returns_a_short_access_token_and_a_refresh_token_kept_only_as_its_digest(app, db, client):
    staff_id = hire(db, "li.ming", "supervisor", (HOME, ELSEWHERE))

    body = sign_in(client)

    assert body["expires_in"] == 15 * 60 and body["refresh_expires_in"] == 12 * 3600
    assert read_token(SECRET, body["token"]) == Staff(staff_id, "supervisor", (HOME, ELSEWHERE))
    assert len(body["refresh_token"]) >= 43  # 32 random bytes, URL-safe base64
    with db.connect() as connection:
        row = connection.execute(select(staff_sessions)).mappings().one()
    assert row["staff_id"] == staff_id and row["revoked_at"] is None
    assert row["token_digest"] == hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    assert row["expires_at"] == SIGNED_IN_AT + timedelta(hours=12)
    assert body["refresh_token"] not in repr(dict(row))


def test_each_sign_in_is_its_own_session(db, client):
    hire(db, "li.ming")

    first, second = sign_in(client), sign_in(client)

    assert first["refresh_token"] != second["refresh_token"]
    assert refresh(client, first["refresh_token"]).status_code == refresh(client, second["refresh_token"]).status_code == 200


def test_the_lifetimes_come_from_the_settings(tmp_path, monkeypatch, clock):
    url = migrated_database(tmp_path, "cases")
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET,
                    STAFF_TOKEN_MINUTES="5", STAFF_SESSION_HOURS="1")
    with root_logging_kept():
        app = create_app({"CASES_NOW": clock})
    try:
        hire(app.extensions["cases.db"], "li.ming")
        body = sign_in(app.test_client())
    finally:
        app.extensions["cases.db"].dispose()

    assert body["expires_in"] == 300 and body["refresh_expires_in"] == 3600


# Refreshing

def test_a_refresh_gives_a_new_access_token_for_the_account_as_it_is_now(app, db, client, clock):
    staff_id = hire(db, "li.ming", "collector", (HOME,))
    signed_in = sign_in(client)
    # A role and communities written into the account by some other path than the staff API (which would
    # also end the session): the refresh reads the account, not the old token's claims.
    with db.begin() as connection:
        connection.execute(update(staff).where(staff.c.id == staff_id).values(role="supervisor"))
    clock.at += timedelta(minutes=14)

    response = refresh(client, signed_in["refresh_token"])

    assert response.status_code == 200
    body = response.get_json()
    assert body == {"token": body["token"], "expires_in": 900, "role": "supervisor", "communities": [HOME]}
    assert read_token(SECRET, body["token"]) == Staff(staff_id, "supervisor", (HOME,))
    with db.connect() as connection:
        assert connection.execute(select(staff_sessions.c.last_used_at)).scalar_one() == clock.at


def test_a_role_change_through_the_api_ends_the_sign_in_and_the_next_one_carries_the_new_role(db, client):
    staff_id = hire(db, "li.ming", "collector", (HOME,))
    signed_in = sign_in(client)

    changed = client.patch(f"/api/v1/staff/{staff_id}", json={"role": "supervisor"}, headers=ADMIN)

    assert changed.status_code == 200
    assert_session_ended(refresh(client, signed_in["refresh_token"]))
    assert read_token(SECRET, sign_in(client)["token"]).role == "supervisor"


def test_a_communities_change_ends_the_sign_in(db, client):
    staff_id = hire(db, "li.ming", "collector", (HOME,))
    signed_in = sign_in(client)

    changed = client.patch(f"/api/v1/staff/{staff_id}", json={"communities": [HOME, ELSEWHERE]}, headers=ADMIN)

    assert changed.status_code == 200
    assert_session_ended(refresh(client, signed_in["refresh_token"]))


def test_a_change_that_changes_nothing_that_matters_keeps_the_sign_in(db, client):
    staff_id = hire(db, "li.ming", "collector", (HOME,))
    signed_in = sign_in(client)

    same = client.patch(f"/api/v1/staff/{staff_id}", json={"role": "collector", "communities": [HOME],
                                                           "email": "li@example.com"}, headers=ADMIN)

    assert same.status_code == 200
    assert refresh(client, signed_in["refresh_token"]).status_code == 200


def test_deactivation_ends_every_sign_in_and_reactivation_does_not_bring_them_back(db, client):
    staff_id = hire(db, "li.ming")
    phone, desk = sign_in(client), sign_in(client)

    assert client.patch(f"/api/v1/staff/{staff_id}", json={"active": False}, headers=ADMIN).status_code == 200

    assert_session_ended(refresh(client, phone["refresh_token"]))
    assert_session_ended(refresh(client, desk["refresh_token"]))
    assert client.patch(f"/api/v1/staff/{staff_id}", json={"active": True}, headers=ADMIN).status_code == 200
    assert_session_ended(refresh(client, phone["refresh_token"]))
    with db.connect() as connection:
        assert set(connection.execute(select(staff_sessions.c.revoked_reason)).scalars()) == {"deactivated"}


def test_an_inactive_account_gets_no_new_token_even_from_a_session_nobody_revoked(db, client):
    staff_id = hire(db, "li.ming")
    signed_in = sign_in(client)
    with db.begin() as connection:
        connection.execute(update(staff).where(staff.c.id == staff_id).values(active=False))

    assert_session_ended(refresh(client, signed_in["refresh_token"]))


def test_a_session_expires_twelve_hours_after_the_sign_in_however_much_it_is_used(db, client, clock):
    hire(db, "li.ming")
    signed_in = sign_in(client)

    clock.at = SIGNED_IN_AT + timedelta(hours=11, minutes=59)
    assert refresh(client, signed_in["refresh_token"]).status_code == 200
    clock.at = SIGNED_IN_AT + timedelta(hours=12)
    assert_session_ended(refresh(client, signed_in["refresh_token"]))


def test_an_unknown_a_revoked_and_an_expired_refresh_token_are_refused_alike(db, client, clock):
    hire(db, "li.ming")
    revoked, expired = sign_in(client), sign_in(client)
    assert client.post("/api/v1/auth/sign-out", json={"refresh_token": revoked["refresh_token"]}).status_code == 204
    clock.at += timedelta(hours=13)

    answers = [refresh(client, token) for token in ("no-such-token", revoked["refresh_token"], expired["refresh_token"])]

    for answer in answers:
        assert_session_ended(answer)
    assert len({answer.get_data() for answer in answers}) == 1


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": "x" * 201},
                                  {"refresh_token": "x", "staff_id": "y"}])
def test_a_malformed_refresh_is_422(client, body):
    response = client.post("/api/v1/auth/refresh", json=body)

    assert response.status_code == 422 and set(response.get_json()) == {"code", "status", "message", "errors"}


# Signing out

def test_signing_out_ends_that_sign_in_only_and_may_be_repeated(db, client):
    hire(db, "li.ming")
    phone, desk = sign_in(client), sign_in(client)

    first = client.post("/api/v1/auth/sign-out", json={"refresh_token": phone["refresh_token"]})
    second = client.post("/api/v1/auth/sign-out", json={"refresh_token": phone["refresh_token"]})
    unknown = client.post("/api/v1/auth/sign-out", json={"refresh_token": "no-such-token"})

    assert first.status_code == second.status_code == unknown.status_code == 204
    assert_session_ended(refresh(client, phone["refresh_token"]))
    assert refresh(client, desk["refresh_token"]).status_code == 200


def test_an_admin_signs_someone_out_everywhere(db, client):
    staff_id, other_id = hire(db, "li.ming"), hire(db, "wang.fang")
    phone, desk, other = sign_in(client), sign_in(client), sign_in(client, "wang.fang")

    response = client.post(f"/api/v1/staff/{staff_id}/sign-out", headers=ADMIN)

    assert response.status_code == 200 and response.get_json() == {"sessions_revoked": 2}
    assert_session_ended(refresh(client, phone["refresh_token"]))
    assert_session_ended(refresh(client, desk["refresh_token"]))
    assert refresh(client, other["refresh_token"]).status_code == 200
    assert client.post(f"/api/v1/staff/{staff_id}/sign-out", headers=ADMIN).get_json() == {"sessions_revoked": 0}
    assert other_id


def test_staff_sign_themselves_out_everywhere_but_not_a_colleague(db, client):
    staff_id, colleague = hire(db, "li.ming"), hire(db, "wang.fang")
    signed_in = sign_in(client)

    own = client.post(f"/api/v1/staff/{staff_id}/sign-out", headers=bearer(staff_id, "collector"))
    theirs = client.post(f"/api/v1/staff/{colleague}/sign-out", headers=bearer(staff_id, "collector"))

    assert own.status_code == 200 and own.get_json() == {"sessions_revoked": 1}
    assert theirs.status_code == 403
    assert_session_ended(refresh(client, signed_in["refresh_token"]))


def test_a_manager_signs_out_their_collector_but_not_a_fellow_manager(db, client):
    manager, collector, fellow = hire(db, "boss", "manager"), hire(db, "li.ming"), hire(db, "other.boss", "manager")

    assert client.post(f"/api/v1/staff/{collector}/sign-out", headers=bearer(manager, "manager")).status_code == 200
    assert client.post(f"/api/v1/staff/{fellow}/sign-out", headers=bearer(manager, "manager")).status_code == 403


# Passwords

def test_changing_your_own_password_needs_the_current_one_and_ends_every_sign_in(db, client):
    staff_id = hire(db, "li.ming")
    signed_in = sign_in(client)
    me = bearer(staff_id, "collector")

    wrong = client.post(f"/api/v1/staff/{staff_id}/password",
                        json={"current_password": "not it", "password": "a new long password"}, headers=me)
    missing = client.post(f"/api/v1/staff/{staff_id}/password", json={"password": "a new long password"}, headers=me)
    assert wrong.status_code == missing.status_code == 422
    assert wrong.get_json()["errors"] == {"current_password": ["Wrong password."]}
    assert refresh(client, signed_in["refresh_token"]).status_code == 200

    right = client.post(f"/api/v1/staff/{staff_id}/password",
                        json={"current_password": PASSWORD, "password": "a new long password"}, headers=me)

    assert right.status_code == 200 and right.get_json() == {"sessions_revoked": 1}
    assert_session_ended(refresh(client, signed_in["refresh_token"]))
    assert client.post("/api/v1/auth/token", json={"username": "li.ming", "password": PASSWORD}).status_code == 401
    assert sign_in(client, password="a new long password")["refresh_token"]


def test_wrong_current_passwords_count_as_failed_sign_ins(db, client):
    staff_id = hire(db, "li.ming")
    me = bearer(staff_id, "collector")

    for _ in range(5):
        client.post(f"/api/v1/staff/{staff_id}/password",
                    json={"current_password": "guess", "password": "a new long password"}, headers=me)
    locked = client.post(f"/api/v1/staff/{staff_id}/password",
                         json={"current_password": PASSWORD, "password": "a new long password"}, headers=me)

    assert locked.status_code == 429
    assert client.post("/api/v1/auth/token", json={"username": "li.ming", "password": PASSWORD}).status_code == 429


def test_an_admin_resets_a_password_to_a_generated_one_shown_once(db, client):
    hire(db, "li.ming")
    signed_in = sign_in(client)
    staff_id = read_token(SECRET, signed_in["token"]).sub

    response = client.post(f"/api/v1/staff/{staff_id}/password", json={}, headers=ADMIN)

    body = response.get_json()
    assert response.status_code == 200 and body["sessions_revoked"] == 1 and len(body["password"]) >= 20
    assert_session_ended(refresh(client, signed_in["refresh_token"]))
    assert sign_in(client, password=body["password"])["token"]


# What is kept and said

def test_no_refresh_token_reaches_the_logs(db, client, caplog):
    staff_id = hire(db, "li.ming")
    caplog.set_level(logging.DEBUG)

    signed_in = sign_in(client)
    refresh(client, signed_in["refresh_token"])
    client.post(f"/api/v1/staff/{staff_id}/sign-out", headers=ADMIN)
    refresh(client, signed_in["refresh_token"])
    client.post("/api/v1/auth/sign-out", json={"refresh_token": signed_in["refresh_token"]})

    assert any("signed out everywhere" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert signed_in["refresh_token"] not in repr(record.__dict__)


def test_the_api_document_describes_the_new_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    assert {"/api/v1/auth/refresh", "/api/v1/auth/sign-out", "/api/v1/staff/{staff_id}/sign-out",
            "/api/v1/staff/{staff_id}/password"} <= set(paths)


@pytest.mark.parametrize("variable, value", [("STAFF_TOKEN_MINUTES", "0"), ("STAFF_TOKEN_MINUTES", "soon"),
                                             ("STAFF_SESSION_HOURS", "-1"), ("STAFF_SESSION_HOURS", "nan")])
def test_a_lifetime_that_is_not_a_positive_number_stops_the_service_at_start(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_deactivating_takes_true_or_false_and_nothing_that_merely_looks_like_it(app, client):
    from shared.auth import issue_token

    admin = {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 'root', 'admin')}"}
    for value in (0, "no", "false", None):
        answer = client.patch("/api/v1/staff/anyone", json={"active": value}, headers=admin)
        assert answer.status_code == 422, value
        assert "active" in str(answer.get_json()["errors"])
