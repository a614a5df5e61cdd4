"""cases reads the owner's reply-form answer: issues, a hardship task and the case's timeline, once."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.cases import domain, handlers
from services.cases.handlers import EVENT_HANDLERS
from services.cases.tables import case_notes, cases, inbox, outbox, owner_issues, staff_tasks
from services.cases.timeline import case_timeline
from shared.consumer import PermanentFailure
from shared.db import make_engine
from shared.dispatch import InboxDispatcher
from shared.envelope import decode, new_event
from shared.topology import SUBSCRIPTIONS
from tests.unit.sqlite_services import add_community, migrated_database, row_count

COMMUNITY = "lakeside-garden"
TODAY = date(2026, 11, 20)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(migrated_database(tmp_path, "cases"))
    add_community(engine, COMMUNITY)
    yield engine
    engine.dispose()


@pytest.fixture
def case(engine) -> tuple[str, str]:
    """(owner_id, case_id) of an owner in arrears."""
    with engine.begin() as connection:
        case_id = handlers.open_case(connection, domain.OpenCase(
            community=COMMUNITY, amount_owed=Decimal("2860.00"),
            owner=domain.OwnerDetails("王芳", "+8613800138001", None, "zh-CN", False),
            building="3", unit_number="1202", fee_period="2026", due_date=TODAY - timedelta(days=90),
        ), opened_by="test", today=TODAY)
        owner_id = connection.execute(select(cases.c.owner_id).where(cases.c.id == case_id)).scalar_one()
    return owner_id, case_id


def form_submitted(owner_id: str, case_id: str, *reasons: dict, problem: str = "请尽快修好电梯"):
    """The event as the consumer receives it: serialised, then decoded and validated."""
    return decode(new_event("form.submitted", {
        "submission_id": str(uuid.uuid4()), "owner_id": owner_id, "case_id": case_id, "reasons": list(reasons),
        "problem": problem, "locale": "zh-CN", "submitted_at": datetime(2026, 11, 21, 2, 30, tzinfo=UTC),
    }).to_json())


def dispatch(engine):
    return InboxDispatcher(engine, inbox, EVENT_HANDLERS)


def issues(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(select(owner_issues).order_by(owner_issues.c.category)).all()


def test_cases_subscribes_to_the_reply_form():
    assert "form.submitted" in SUBSCRIPTIONS["cases"] and "form.submitted" in EVENT_HANDLERS


def test_a_service_complaint_becomes_an_owner_issue_with_its_category_deadline_and_words(engine, case):
    owner_id, case_id = case
    dispatch(engine)(form_submitted(owner_id, case_id, {"reason": "service_complaint", "category": "lifts",
                                                        "detail": "3号楼电梯经常停运"}))

    [issue] = issues(engine)
    assert (issue.case_id, issue.owner_id, issue.category, issue.source, issue.status) == (
        case_id, owner_id, "lifts", "form", "open")
    assert "3号楼电梯经常停运" in issue.description and "请尽快修好电梯" in issue.description
    assert issue.deadline_at - issue.created_at == timedelta(hours=24)  # lifts cannot wait
    with engine.connect() as connection:
        opened = [decode(b) for b in connection.execute(select(outbox.c.body)).scalars()]
    assert [e.payload["issue_id"] for e in opened if e.type == "issue.opened"] == [issue.id]


def test_a_disputed_amount_becomes_a_billing_dispute_noting_the_owners_figure(engine, case):
    owner_id, case_id = case
    dispatch(engine)(form_submitted(owner_id, case_id, {"reason": "disputed_amount", "disputed_amount": "1200.50",
                                                        "detail": "面积算错了"}))

    [issue] = issues(engine)
    assert issue.category == "billing_dispute"
    assert "1200.50" in issue.description and "面积算错了" in issue.description


def test_hardship_asks_staff_to_offer_instalments(engine, case):
    owner_id, case_id = case
    dispatch(engine)(form_submitted(owner_id, case_id, {"reason": "hardship", "detail": "失业了"}))

    with engine.connect() as connection:
        tasks = connection.execute(select(staff_tasks.c.kind, staff_tasks.c.case_id, staff_tasks.c.status)
                                   .where(staff_tasks.c.kind == "offer_instalments")).all()
    assert tasks == [("offer_instalments", case_id, "open")]
    assert issues(engine) == []


def test_the_whole_answer_appears_on_the_case_timeline(engine, case):
    owner_id, case_id = case
    dispatch(engine)(form_submitted(
        owner_id, case_id, {"reason": "service_complaint", "category": "noise"},
        {"reason": "disputed_amount", "disputed_amount": "100"}, {"reason": "vacant_unit"},
        {"reason": "bill_not_received"}, {"reason": "other", "detail": "去年已经交过"},
    ))

    with engine.connect() as connection:
        record = case_timeline(connection, case_id)
    [note] = [e for e in record.entries if e.kind == "note" and e.detail["kind"] == "reply_form"]
    detail = note.detail["detail"]
    assert [r["reason"] for r in detail["reasons"]] == [
        "service_complaint", "disputed_amount", "vacant_unit", "bill_not_received", "other"]
    assert detail["reasons"][1]["disputed_amount"] == "100.00" and detail["reasons"][4]["detail"] == "去年已经交过"
    assert detail["problem"] == "请尽快修好电梯" and note.detail["actor"] == "owner"
    assert sorted(detail["issue_ids"]) == sorted(i.id for i in issues(engine))
    assert [e.detail["category"] for e in record.entries if e.kind == "issue"] == ["noise", "billing_dispute"]


def test_a_redelivered_answer_opens_no_second_issue(engine, case):
    owner_id, case_id = case
    event = form_submitted(owner_id, case_id, {"reason": "service_complaint", "category": "leaks"})

    dispatch(engine)(event)
    dispatch(engine)(event)

    assert len(issues(engine)) == 1
    assert row_count(engine, case_notes) == 1


@pytest.mark.parametrize("which", ["unknown-case", "another-owner"])
def test_an_answer_for_a_case_cases_does_not_know_is_dead_lettered_and_writes_nothing(engine, case, which):
    owner_id, case_id = case
    owner, target = (owner_id, "no-such-case") if which == "unknown-case" else ("someone-else", case_id)

    with pytest.raises(PermanentFailure):
        dispatch(engine)(form_submitted(owner, target, {"reason": "service_complaint", "category": "leaks"}))

    assert issues(engine) == [] and row_count(engine, case_notes) == 0 and row_count(engine, inbox) == 0
