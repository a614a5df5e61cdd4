"""Staff keep the FAQ (收费答客问) through the gateway's API, and try a text against it."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.gateway.app import create_app
from services.gateway.faq.starter import STARTER_FAQ, load_starter_faq
from services.gateway.tables import faq_entries
from shared.auth import issue_token
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

FAQ = "/api/v1/faq"
ENTRY = {
    "questions_zh": ["可以开发票吗", "能不能开发票"],
    "questions_en": ["Can I get an invoice?"],
    "answer_zh": "可以，缴费后到服务中心前台开具发票。",
    "answer_en": "Yes: the service centre desk issues one once you have paid.",
}


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY="faq-secret")
    with root_logging_kept():
        app = create_app({"FAQ_MATCH_THRESHOLD": 0.5})
    yield app
    app.extensions["gateway.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def headers(app, role: str = "manager") -> dict:
    token = issue_token(app.config["SECRET_KEY"], f"{role}-1", role, ["lakeside-garden"])
    return {"Authorization": f"Bearer {token}"}


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == status
    return body


def stored(app) -> list:
    with app.extensions["gateway.db"].connect() as connection:
        return connection.execute(select(faq_entries)).all()


def test_a_manager_adds_an_entry_and_every_staff_member_can_read_it(app, client):
    created = client.post(FAQ, json=ENTRY, headers=headers(app))

    assert created.status_code == 201
    body = created.get_json()
    assert {k: body[k] for k in ENTRY} == ENTRY and body["updated_by"] == "manager-1"
    collector = headers(app, "collector")
    assert client.get(f"{FAQ}/{body['id']}", headers=collector).get_json() == body
    assert [e["id"] for e in client.get(FAQ, headers=collector).get_json()] == [body["id"]]


def test_an_entry_is_replaced_and_deleted(app, client):
    entry_id = client.post(FAQ, json=ENTRY, headers=headers(app)).get_json()["id"]

    replaced = client.put(f"{FAQ}/{entry_id}", json={**ENTRY, "questions_en": [], "answer_en": None},
                          headers=headers(app))
    assert replaced.status_code == 200
    assert replaced.get_json()["questions_en"] == [] and replaced.get_json()["answer_en"] is None

    assert client.delete(f"{FAQ}/{entry_id}", headers=headers(app)).status_code == 204
    assert_error_shape(client.get(f"{FAQ}/{entry_id}", headers=headers(app)), 404)
    assert stored(app) == []


@pytest.mark.parametrize("body, field", [
    pytest.param({**ENTRY, "questions_zh": [], "questions_en": []}, "questions_zh", id="no-question"),
    pytest.param({**ENTRY, "answer_zh": None, "answer_en": "  "}, "answer_zh", id="no-answer"),
    pytest.param({**ENTRY, "questions_zh": ["发" * 201]}, "questions_zh", id="question-too-long"),
    pytest.param({**ENTRY, "questions_zh": ["？！"]}, "questions_zh", id="only-punctuation"),
    pytest.param({**ENTRY, "questions_en": ["x"]}, "questions_en", id="question-too-short"),
    pytest.param({**ENTRY, "answer_en": "a" * 1001}, "answer_en", id="answer-too-long"),
    pytest.param({**ENTRY, "questions_zh": [f"问题{i}" for i in range(21)]}, "questions_zh", id="too-many"),
    pytest.param({**ENTRY, "community": "lakeside-garden"}, "community", id="unknown-field"),
    pytest.param({**ENTRY, "questions_zh": "可以开发票吗"}, "questions_zh", id="not-a-list"),
])
def test_a_bad_entry_is_refused_with_the_field_named_and_nothing_stored(app, client, body, field):
    response = client.post(FAQ, json=body, headers=headers(app))

    assert field in assert_error_shape(response, 422)["errors"]
    assert stored(app) == []


def test_a_bad_replacement_leaves_the_entry_as_it_was(app, client):
    entry_id = client.post(FAQ, json=ENTRY, headers=headers(app)).get_json()["id"]
    before = stored(app)

    assert_error_shape(client.put(f"{FAQ}/{entry_id}", json={**ENTRY, "answer_zh": None, "answer_en": None},
                                  headers=headers(app)), 422)

    assert stored(app) == before


@pytest.mark.parametrize("data, content_type, status", [
    ("{not json", "application/json", 400),
    ('{"questions_zh": ["可以开发票吗"], "answer_zh": "可以"}', "text/plain", 415),
    ("[1, 2]", "application/json", 422),
], ids=["bad-json", "not-json", "not-an-object"])
def test_a_body_that_is_not_a_json_object_is_refused_and_nothing_stored(app, client, data, content_type, status):
    response = client.post(FAQ, data=data.encode(), headers={**headers(app), "Content-Type": content_type})

    assert_error_shape(response, status)
    assert stored(app) == []


@pytest.mark.parametrize("method, path", [("PUT", f"{FAQ}/no-such-entry"), ("DELETE", f"{FAQ}/no-such-entry"),
                                          ("GET", f"{FAQ}/no-such-entry")])
def test_a_missing_entry_is_a_404(app, client, method, path):
    assert_error_shape(client.open(path, method=method, json=ENTRY, headers=headers(app)), 404)


# Every FAQ endpoint: who may call it. Writes are the manager's (admins may do anything).
ENDPOINTS = [
    ("GET", FAQ, None), ("POST", FAQ, "manager"), ("GET", FAQ + "/{entry_id}", None),
    ("PUT", FAQ + "/{entry_id}", "manager"), ("DELETE", FAQ + "/{entry_id}", "manager"),
    ("POST", FAQ + "/match", None),
]


@pytest.mark.parametrize("method, path, editor", ENDPOINTS)
def test_every_faq_endpoint_needs_a_staff_token(app, client, method, path, editor):
    response = client.open(path.replace("{entry_id}", "x"), method=method, json=ENTRY)

    assert_error_shape(response, 401)


@pytest.mark.parametrize("role", ["collector", "supervisor"])
@pytest.mark.parametrize("method, path", [(m, p) for m, p, editor in ENDPOINTS if editor])
def test_only_a_manager_changes_the_faq(app, client, role, method, path):
    entry_id = client.post(FAQ, json=ENTRY, headers=headers(app)).get_json()["id"]
    before = stored(app)

    response = client.open(path.replace("{entry_id}", entry_id), method=method, json=ENTRY,
                           headers=headers(app, role))

    assert_error_shape(response, 403)
    assert stored(app) == before


def test_every_endpoint_in_the_gateway_api_document_is_in_the_table_above(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}

    assert operations == {(method, path) for method, path, _ in ENDPOINTS}


def test_staff_see_which_entry_a_text_matches_its_score_and_the_answer_an_owner_would_get(app, client):
    load_starter_faq(app.extensions["gateway.db"])

    response = client.post(f"{FAQ}/match", json={"text": "请问物业费都包括哪些服务？"}, headers=headers(app, "collector"))

    body = response.get_json()
    assert response.status_code == 200
    assert body["entry"]["questions_zh"] == STARTER_FAQ[1]["questions_zh"]
    assert body["answered"] is True and body["score"] >= body["threshold"] == 0.5
    assert body["answer"] == STARTER_FAQ[1]["answer_zh"] and body["locale"] == "zh-CN"


def test_an_english_question_gets_the_english_answer(app, client):
    load_starter_faq(app.extensions["gateway.db"])

    body = client.post(f"{FAQ}/match", json={"text": "How can I pay?"}, headers=headers(app)).get_json()

    assert body["answer"] == STARTER_FAQ[2]["answer_en"] and body["locale"] == "en"


def test_an_owner_whose_language_has_no_answer_gets_the_other_one(app, client):
    client.post(FAQ, json={**ENTRY, "answer_en": None}, headers=headers(app))

    body = client.post(f"{FAQ}/match", json={"text": "Can I get an invoice?"}, headers=headers(app)).get_json()

    assert body["answered"] and body["answer"] == ENTRY["answer_zh"] and body["locale"] == "zh-CN"


def test_a_text_below_the_threshold_shows_its_best_entry_but_is_not_answered(app, client):
    load_starter_faq(app.extensions["gateway.db"])

    body = client.post(f"{FAQ}/match", json={"text": "为什么这么贵"}, headers=headers(app)).get_json()

    assert 0 < body["score"] < 0.5 and body["entry"] is not None
    assert body["answered"] is False and body["answer"] is None


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "x" * 2001}, {"text": "hi", "lang": "en"}])
def test_a_bad_match_request_is_a_422(app, client, body):
    assert_error_shape(client.post(f"{FAQ}/match", json=body, headers=headers(app)), 422)


def test_the_starter_faq_is_loaded_once_and_never_over_staffs_own(app):
    engine = app.extensions["gateway.db"]

    assert load_starter_faq(engine) == len(STARTER_FAQ)
    assert load_starter_faq(engine) == 0
    assert row_count(engine, faq_entries) == len(STARTER_FAQ)
