"""What schemathesis found in the gateway's staff API (FAQ, interpret): bad input answered 500 or
was stored. Each request is refused with a 4xx in the one error shape and writes nothing."""
from __future__ import annotations

import pytest

from services.gateway.app import create_app
from services.gateway.tables import faq_entries
from shared.auth import issue_token
from tests import support
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

ERROR_KEYS = {"code", "status", "message", "errors"}
FAQ = "/api/v1/faq"
INTERPRET = "/api/v1/replies/interpret"
ENTRY = {"questions_zh": ["可以开发票吗"], "answer_zh": "可以，缴费后到服务中心前台开具发票。"}


def build_app(monkeypatch, url: str, data_dir: str):
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=data_dir)
    with root_logging_kept():
        return create_app()


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = build_app(monkeypatch, migrated_database(tmp_path, "gateway"), str(tmp_path))
    yield app
    app.extensions["gateway.db"].dispose()


def manager(app) -> dict:
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 'm-1', 'manager')}"}


def refused(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == ERROR_KEYS and body["code"] == status and body["message"]
    return body["errors"]


def entries(app) -> int:
    return row_count(app.extensions["gateway.db"], faq_entries)


def test_a_nul_character_in_an_faq_question_is_refused_naming_it(app):
    body = {**ENTRY, "questions_zh": ["可以开\x00发票吗"]}

    errors = refused(app.test_client().post(FAQ, json=body, headers=manager(app)), 422)

    assert errors == {"questions_zh": {"0": ["Must not contain a NUL character."]}}
    assert entries(app) == 0


def test_a_json_body_nested_past_the_parser_is_a_400(app):
    deep = "[" * 5_000 + "]" * 5_000  # 10 KB: within the gateway's 64 KB, past Python's parser

    refused(app.test_client().post(FAQ, data=deep, content_type="application/json", headers=manager(app)), 400)
    assert entries(app) == 0


@pytest.mark.parametrize("received_at", ["9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+14:00"])
def test_reading_a_reply_received_off_the_calendar_is_a_422_not_a_500(app, received_at):
    body = {"text": "下周五交", "received_at": received_at, "timezone": "Asia/Shanghai"}

    errors = refused(app.test_client().post(INTERPRET, json=body, headers=manager(app)), 422)

    assert "received_at" in errors


@pytest.mark.postgres
def test_on_postgresql_a_nul_character_in_an_faq_path_is_a_404_not_a_500(postgres_url, tmp_path, monkeypatch):
    support.migrate_postgres("gateway", postgres_url)
    app = build_app(monkeypatch, postgres_url, str(tmp_path))
    try:
        client = app.test_client()
        refused(client.get(f"{FAQ}/%00", headers=manager(app)), 404)
        refused(client.put(f"{FAQ}/%00", json=ENTRY, headers=manager(app)), 404)
        refused(client.delete(f"{FAQ}/%00", headers=manager(app)), 404)
        assert entries(app) == 0
    finally:
        app.extensions["gateway.db"].dispose()
