"""Staff tasks: what the system hands to people, listed per community and closed once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from services.cases.app import create_app
from services.cases.tables import owners, staff_tasks
from shared.auth import issue_token
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment

OURS, THEIRS = "lakeside-garden", "river-view"
NOW = datetime(2025, 11, 10, 4, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path, monkeypatch):
    set_environment(monkeypatch, CASES_DATABASE_URL=migrated_database(tmp_path, "cases"), DATA_DIR=str(tmp_path))
    with root_logging_kept():
        app = create_app()
    engine = app.extensions["cases.db"]
    with engine.begin() as connection:
        for community in (OURS, THEIRS):
            add_community(engine, community)
        for n, (community, kind, age) in enumerate([
            (OURS, "reverify_contacts", 3), (OURS, "offer_instalments", 1), (THEIRS, "verify_payment", 2),
        ]):
            connection.execute(insert(owners).values(
                id=f"o{n}", community=community, name="x", locale="zh-CN", key_owner=False,
                contact_status="reachable", broken_promises=0, created_at=NOW))
            connection.execute(insert(staff_tasks).values(
                id=f"t{n}", kind=kind, community=community, owner_id=f"o{n}", status="open",
                created_at=NOW - timedelta(days=age)))
    yield app
    engine.dispose()


def token(app, community: str, role: str = "collector") -> dict:
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 's', role, [community])}"}


def test_a_collector_sees_their_communitys_open_tasks_oldest_first(app):
    body = app.test_client().get("/api/v1/tasks", headers=token(app, OURS)).get_json()
    assert [t["id"] for t in body["items"]] == ["t0", "t1"] and body["total"] == 2


def test_tasks_can_be_filtered_by_kind(app):
    body = app.test_client().get("/api/v1/tasks?kind=offer_instalments", headers=token(app, OURS)).get_json()
    assert [t["id"] for t in body["items"]] == ["t1"]


def test_finishing_a_task_closes_it_once(app):
    client = app.test_client()
    done = client.post("/api/v1/tasks/t0/done", headers=token(app, OURS))
    again = client.post("/api/v1/tasks/t0/done", headers=token(app, OURS))
    assert done.status_code == 200 and done.get_json()["status"] == "done"
    assert again.status_code == 409
    remaining = client.get("/api/v1/tasks", headers=token(app, OURS)).get_json()
    assert [t["id"] for t in remaining["items"]] == ["t1"]


def test_another_communitys_task_looks_missing(app):
    client = app.test_client()
    theirs = client.post("/api/v1/tasks/t2/done", headers=token(app, OURS))
    missing = client.post("/api/v1/tasks/nope/done", headers=token(app, OURS))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()
