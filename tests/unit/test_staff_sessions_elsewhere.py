"""The notifier and the gateway honour a staff access token only for its short lifetime, on their own
(no call to cases): once cases stops renewing it (sign-out, deactivation), it lapses there too."""
from __future__ import annotations

import time

import pytest

from services.gateway.app import create_app as gateway_app
from services.notifier.app import create_app as notifier_app
from shared.auth import issue_token
from tests.unit.sqlite_services import migrated_database, root_logging_kept, set_environment

SECRET = "shared-secret"
SERVICES = {
    "notifier": (notifier_app, "NOTIFIER_DATABASE_URL", "/api/v1/owners/owner-1/sends"),
    "gateway": (gateway_app, "GATEWAY_DATABASE_URL", "/api/v1/faq"),
}


def build(service: str, tmp_path, monkeypatch, config: dict | None = None, **environment: str):
    create_app, database_variable, _ = SERVICES[service]
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET,
                    **{database_variable: migrated_database(tmp_path, service)}, **environment)
    with root_logging_kept():
        return create_app(config)


def read_with(app, service: str, *minutes_old: float) -> list[int]:
    """The status of the service's staff endpoint with a token issued that many minutes ago, for each."""
    client, statuses = app.test_client(), []
    try:
        for minutes in minutes_old:
            token = issue_token(SECRET, "boss", "manager", ["lakeside-garden"], issued_at=time.time() - minutes * 60)
            statuses.append(client.get(SERVICES[service][2], headers={"Authorization": f"Bearer {token}"}).status_code)
    finally:
        app.extensions[f"{service}.db"].dispose()
    return statuses


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("minutes_old, status", [(14, 200), (16, 401)])
def test_by_default_a_token_is_honoured_for_fifteen_minutes(tmp_path, monkeypatch, service, minutes_old, status):
    app = build(service, tmp_path, monkeypatch)

    assert read_with(app, service, minutes_old) == [status]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_staff_token_minutes_sets_the_lifetime_at_every_service(tmp_path, monkeypatch, service):
    app = build(service, tmp_path, monkeypatch, STAFF_TOKEN_MINUTES="2")

    assert read_with(app, service, 1.5, 2.5) == [200, 401]


def test_an_injected_max_age_refuses_a_token_issued_a_minute_ago(tmp_path, monkeypatch):
    app = build("notifier", tmp_path, monkeypatch, config={"STAFF_TOKEN_MAX_AGE": 30})

    client = app.test_client()
    old = issue_token(SECRET, "boss", "manager", ["lakeside-garden"], issued_at=time.time() - 60)
    fresh = issue_token(SECRET, "boss", "manager", ["lakeside-garden"])
    refused = client.get("/api/v1/owners/owner-1/sends", headers={"Authorization": f"Bearer {old}"})
    allowed = client.get("/api/v1/owners/owner-1/sends", headers={"Authorization": f"Bearer {fresh}"})
    app.extensions["notifier.db"].dispose()

    assert refused.status_code == 401 and set(refused.get_json()) == {"code", "status", "message", "errors"}
    assert allowed.status_code == 200
