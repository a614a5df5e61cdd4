"""What cases does with an owner's question or promise: the staff inbox, and the promise's acknowledgement."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.cases import domain, handlers
from services.cases.app import create_app
from services.cases.replies import on_owner_replied
from services.cases.tables import outbox, staff_inbox
from services.gateway.autoreply import reply_id as gateway_reply_id
from shared.auth import issue_token
from shared.envelope import decode, new_event
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment

OURS, THEIRS = "lakeside-garden", "river-view"
RECEIVED = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
PHONE, EMAIL, OTHER_PHONE = "+8613800138001", "emily.chen@example.com", "+8613800138009"


@pytest.fixture
def app(tmp_path, monkeypatch):
    set_environment(monkeypatch, CASES_DATABASE_URL=migrated_database(tmp_path, "cases"), DATA_DIR=str(tmp_path))
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: RECEIVED})
    engine = app.extensions["cases.db"]
    for community in (OURS, THEIRS):
        add_community(engine, community)
    yield app
    engine.dispose()


def open_case(app, community: str = OURS, phone: str = PHONE, email: str | None = None,
              locale: str = "zh-CN") -> str:
    with app.extensions["cases.db"].begin() as connection:
        return handlers.open_case(connection, domain.OpenCase(
            community=community, amount_owed=Decimal("2860.00"), building="1", unit_number="101",
            owner=domain.OwnerDetails("王芳", phone, email, locale), due_date=date(2026, 1, 31)),
            "test", date(2026, 3, 16))


def replied(app, body: str, intent: str, sender: str = PHONE, channel: str = "sms", **more) -> str:
    """Deliver an owner.replied as cases' consumer receives it; return its provider message id."""
    sid = more.pop("provider_message_id", "SM" + uuid.uuid4().hex)
    event = new_event("owner.replied", {
        "channel": channel, "sender": sender, "body": body, "provider_message_id": sid, "received_at": RECEIVED,
        "intent": intent, "language": more.pop("language", "zh-CN"), **more})
    with app.extensions["cases.db"].begin() as connection:
        on_owner_replied(connection, decode(event.to_json()))
    return sid


def published(app, type_: str) -> list[dict]:
    with app.extensions["cases.db"].connect() as connection:
        rows = connection.execute(select(outbox.c.body).where(outbox.c.routing_key == type_).order_by(outbox.c.seq))
        return [json.loads(body)["payload"] for body in rows.scalars()]


def inbox_rows(app) -> list:
    with app.extensions["cases.db"].connect() as connection:
        return connection.execute(select(staff_inbox).order_by(staff_inbox.c.received_at)).all()


def staff(app, community: str | None = OURS, role: str = "collector") -> dict:
    token = issue_token(app.config["SECRET_KEY"], f"{role}-1", role, [community] if community else [])
    return {"Authorization": f"Bearer {token}"}


def test_a_question_the_faq_did_not_answer_waits_in_the_staff_inbox(app):
    case_id = open_case(app)

    replied(app, "明年物业费会涨价吗？", "question")

    [row] = inbox_rows(app)
    assert (row.community, row.case_id, row.channel, row.question, row.status) == (
        OURS, case_id, "sms", "明年物业费会涨价吗？", "open")


def test_a_question_the_faq_answered_needs_no_one(app):
    open_case(app)

    replied(app, "物业费包括什么？", "question", faq_entry_id=str(uuid.uuid4()))

    assert inbox_rows(app) == []


@pytest.mark.parametrize("intent", ["help", "unknown", "promise_to_pay"])
def test_other_replies_do_not_go_to_the_inbox(app, intent):
    open_case(app)

    replied(app, "嗯", intent)

    assert inbox_rows(app) == []


def test_a_question_from_an_unknown_sender_is_kept_for_admins_only(app):
    open_case(app)
    replied(app, "你们是哪家物业？", "question", sender=OTHER_PHONE)
    client = app.test_client()

    [row] = inbox_rows(app)
    assert row.community is None and row.owner_id is None
    assert client.get("/api/v1/inbox", headers=staff(app, role="manager")).get_json()["total"] == 0
    admin = client.get("/api/v1/inbox", headers=staff(app, None, "admin")).get_json()
    assert [item["id"] for item in admin["items"]] == [row.id]
    assert client.post(f"/api/v1/inbox/{row.id}/answered", headers=staff(app, role="manager")).status_code == 404


def test_a_recorded_promise_is_acknowledged_to_where_the_owner_wrote_from_in_their_language(app):
    case_id = open_case(app, email=EMAIL, locale="en")

    sid = replied(app, "I'll pay on Friday", "promise_to_pay", sender=EMAIL, channel="email", language="en",
                  promised_date="2026-03-20")

    [promise] = published(app, "promise.recorded")
    [ack] = published(app, "autoreply.requested")
    assert ack == {
        "reply_id": str(gateway_reply_id(sid)), "kind": "promise_ack", "channel": "email", "address": EMAIL,
        "locale": "en", "in_reply_to": sid, "owner_id": promise["owner_id"], "case_id": case_id,
        "community": OURS, "context": {"promised_date": "2026-03-20"},
    }


def test_a_promise_that_is_not_recorded_is_not_acknowledged(app):
    open_case(app)

    replied(app, "上个月15号交", "promise_to_pay", promised_date="2026-02-15")  # in the past

    assert published(app, "promise.recorded") == [] and published(app, "autoreply.requested") == []


def test_the_acknowledgement_uses_the_same_reply_id_as_the_gateway_for_the_same_message(app):
    open_case(app)

    sid = replied(app, "下周五交", "promise_to_pay", promised_date="2026-03-27")

    assert published(app, "autoreply.requested")[0]["reply_id"] == str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"owner-reply:{sid}")) == str(gateway_reply_id(sid))


def test_staff_list_their_communitys_open_questions_oldest_first_and_mark_one_answered(app):
    open_case(app)
    open_case(app, THEIRS, phone=OTHER_PHONE)
    replied(app, "能开发票吗？", "question")
    replied(app, "停车位怎么租？", "question", sender=OTHER_PHONE)
    client = app.test_client()

    listed = client.get("/api/v1/inbox", headers=staff(app)).get_json()
    [item] = listed["items"]
    answered = client.post(f"/api/v1/inbox/{item['id']}/answered", json={"note": "电话回复：可以开。"},
                           headers=staff(app))
    again = client.post(f"/api/v1/inbox/{item['id']}/answered", json={}, headers=staff(app))

    assert item["question"] == "能开发票吗？" and listed["total"] == 1
    assert answered.status_code == 200
    assert answered.get_json()["status"] == "answered" and answered.get_json()["note"] == "电话回复：可以开。"
    assert answered.get_json()["answered_by"] == "collector-1"
    assert again.status_code == 409
    assert client.get("/api/v1/inbox", headers=staff(app)).get_json()["items"] == []
    done = client.get("/api/v1/inbox?status=answered", headers=staff(app)).get_json()["items"]
    assert [d["id"] for d in done] == [item["id"]]


@pytest.mark.parametrize("query", ["status=closed", "per_page=0", "page=x"])
def test_a_bad_inbox_filter_is_a_422(app, query):
    response = app.test_client().get(f"/api/v1/inbox?{query}", headers=staff(app))

    assert response.status_code == 422 and set(response.get_json()) == {"code", "status", "message", "errors"}


def test_a_bad_note_is_refused_and_the_question_stays_open(app):
    open_case(app)
    replied(app, "能开发票吗？", "question")
    [row] = inbox_rows(app)

    response = app.test_client().post(f"/api/v1/inbox/{row.id}/answered", json={"note": "x" * 2001},
                                      headers=staff(app))

    assert response.status_code == 422
    with app.extensions["cases.db"].connect() as connection:
        assert connection.execute(select(func.count()).select_from(staff_inbox)
                                  .where(staff_inbox.c.status == "open")).scalar_one() == 1
