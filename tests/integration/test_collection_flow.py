"""The collection rules end to end on PostgreSQL: sweep, payments, promises, issues, contacts."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from services.cases import accounts, owner_issue, register
from services.cases.deliveries import on_delivery_reported, on_message_failed, on_message_sent
from services.cases.promise import record_promise
from services.cases.replies import on_owner_replied, on_suppression_changed
from services.cases.schedule import supervisor_for
from services.cases.sweep import sweep
from services.cases.tables import (
    cases,
    owner_contacts,
    owner_replies,
    owners,
    promises,
    staff,
    staff_communities,
    staff_tasks,
    stage_moves,
    units,
)
from shared.envelope import decode, new_event
from tests.integration.collection import (
    COMMUNITY,
    events_since,
    local_noon,
    migrated_cases_db,
    open_case,
    outbox_mark,
    types,
)

pytestmark = pytest.mark.postgres
OPENED = date(2026, 10, 1)


@pytest.fixture
def engine(postgres_url):
    engine = migrated_cases_db(postgres_url)
    yield engine
    engine.dispose()


def case_row(engine, case_id):
    with engine.connect() as connection:
        return connection.execute(select(cases).where(cases.c.id == case_id)).one()


def bus(type_: str, payload: dict):
    """An event as a consumer receives it: serialised, then decoded and validated."""
    return decode(new_event(type_, payload).to_json())


def test_opening_a_case_asks_for_the_first_reminder_on_every_channel(engine):
    mark = outbox_mark(engine)
    open_case(engine, today=OPENED)
    events = events_since(engine, mark)
    assert types(events) == ["case.opened", "reminder.requested"]
    assert events[1]["payload"]["channels"] == ["sms", "email"]


def test_the_sweep_moves_a_due_case_with_one_event_and_a_second_run_emits_nothing(engine):
    case_id = open_case(engine, today=OPENED, due=OPENED - timedelta(days=1))
    notice_day = OPENED - timedelta(days=1) + timedelta(days=30)
    mark = outbox_mark(engine)

    first = sweep(engine, local_noon(notice_day))
    events = events_since(engine, mark)
    again = sweep(engine, local_noon(notice_day))

    assert first.moved == 1 and again.cases_seen == 0
    assert types(events) == ["case.escalated"]  # one event per move, carrying its notice
    assert events_since(engine, mark) == events  # the second run added nothing
    notice = decode(json.dumps(events[0])).payload["notice"]
    assert notice["stage"] == "notice" and "letter" in notice["channels"]
    assert case_row(engine, case_id).stage == "notice"


def test_the_sweep_uses_each_communitys_own_calendar_day(engine):
    open_case(engine, today=OPENED)
    # 23:30 UTC on Oct 1st is already Oct 2nd in Shanghai: a new day there.
    late = datetime(2026, 10, 1, 23, 30, tzinfo=UTC)
    assert sweep(engine, late).cases_seen == 1
    assert sweep(engine, late + timedelta(minutes=20)).cases_seen == 0


def test_a_payment_that_clears_the_case_closes_it_and_emits_case_closed(engine):
    case_id = open_case(engine, today=OPENED, amount="800.00")
    with engine.begin() as connection:
        unit_id = connection.execute(select(units.c.id)).scalar_one()
        mark = outbox_mark(engine)
        accounts.record_payment(connection, accounts.PaymentIn(
            COMMUNITY, unit_id, Decimal("800.00"), OPENED, "R-1", "staff"), OPENED, "test")
    closed = case_row(engine, case_id)
    assert closed.status == "closed" and closed.closed_reason == "paid"
    assert types(events_since(engine, mark)) == ["case.closed", "payment.recorded"]


def test_a_partial_payment_reduces_the_amount_and_keeps_the_stage(engine):
    case_id = open_case(engine, today=OPENED, amount="800.00")
    with engine.begin() as connection:
        unit_id = connection.execute(select(units.c.id)).scalar_one()
        accounts.record_payment(connection, accounts.PaymentIn(
            COMMUNITY, unit_id, Decimal("300.00"), OPENED, "R-1", "staff"), OPENED, "test")
        again = accounts.record_payment(connection, accounts.PaymentIn(
            COMMUNITY, unit_id, Decimal("300.00"), OPENED, "R-1", "staff"), OPENED, "test")
    row = case_row(engine, case_id)
    assert again is None  # the same receipt twice is one payment
    assert (row.status, row.stage, row.amount_owed, row.amount_recovered) == (
        "open", "reminder", Decimal("500.00"), Decimal("300.00"))
    with engine.connect() as connection:
        assert connection.execute(select(stage_moves.c.stage).where(
            stage_moves.c.case_id == case_id)).scalars().all() == ["reminder"]


def test_a_promise_pauses_reminders_then_a_broken_promise_escalates_at_once(engine):
    case_id = open_case(engine, today=OPENED)
    promised = OPENED + timedelta(days=5)
    with engine.begin() as connection:
        record_promise(connection, case_id, promised, None, "sms", OPENED)
    paused = sweep(engine, local_noon(OPENED + timedelta(days=3)))  # a repeat day, but promised
    mark = outbox_mark(engine)
    on_the_day = sweep(engine, local_noon(promised))
    reminder = events_since(engine, mark)
    broken = sweep(engine, local_noon(promised + timedelta(days=1)))

    assert paused.reminders == 0 and on_the_day.reminders == 1
    assert reminder[0]["payload"]["template"] == "promise_due"
    assert broken.promises_broken == 1 and broken.moved == 1
    assert case_row(engine, case_id).stage == "notice"
    with engine.connect() as connection:
        assert connection.execute(select(promises.c.status)).scalar_one() == "broken"
        assert connection.execute(select(owners.c.broken_promises)).scalar_one() == 1


def test_paying_by_the_promised_date_keeps_the_promise(engine):
    case_id = open_case(engine, today=OPENED, amount="600.00")
    with engine.begin() as connection:
        record_promise(connection, case_id, OPENED + timedelta(days=5), Decimal("200.00"), "staff", OPENED)
        unit_id = connection.execute(select(units.c.id)).scalar_one()
        mark = outbox_mark(engine)
        accounts.record_payment(connection, accounts.PaymentIn(
            COMMUNITY, unit_id, Decimal("200.00"), OPENED + timedelta(days=2), "R-9", "staff"), OPENED, "t")
    assert "promise.kept" in types(events_since(engine, mark))
    assert sweep(engine, local_noon(OPENED + timedelta(days=6))).promises_broken == 0


def test_an_open_issue_pauses_the_case_and_resolving_it_resumes_after_the_grace_period(engine):
    case_id = open_case(engine, today=OPENED, due=OPENED - timedelta(days=1))
    owner_id = case_row(engine, case_id).owner_id
    with engine.begin() as connection:
        issue_id = owner_issue.open_issue(connection, owner_id=owner_id, community=COMMUNITY, case_id=case_id,
                                          category="leaks", description="卫生间漏水", source="sms", actor="owner")
    notice_day = OPENED + timedelta(days=29)
    assert sweep(engine, local_noon(notice_day)).moved == 0
    with engine.begin() as connection:
        mark = outbox_mark(engine)
        owner_issue.change_status(connection, issue_id, "resolved", "staff-1", "fixed", notice_day)
    told = events_since(engine, mark)
    assert types(told) == ["issue.resolved", "reminder.requested"]
    assert told[1]["payload"]["template"] == "issue_resolved"
    assert sweep(engine, local_noon(notice_day + timedelta(days=3))).moved == 0  # still in grace
    assert sweep(engine, local_noon(notice_day + timedelta(days=4))).moved == 1


def test_a_key_owner_needs_a_managers_approval_before_the_lawyers_letter(engine):
    case_id = open_case(engine, today=OPENED, key_owner=True, due=OPENED - timedelta(days=1))
    sweep(engine, local_noon(OPENED + timedelta(days=29)))  # -> notice
    mark = outbox_mark(engine)
    sweep(engine, local_noon(OPENED + timedelta(days=59)))
    assert types(events_since(engine, mark)) == ["approval.requested"]
    assert case_row(engine, case_id).stage == "notice"
    with engine.begin() as connection:
        connection.execute(cases.update().where(cases.c.id == case_id).values(approved_stage="lawyer_letter"))
    sweep(engine, local_noon(OPENED + timedelta(days=60)))
    assert case_row(engine, case_id).stage == "lawyer_letter"


def test_when_every_contact_fails_the_owner_becomes_unreachable_and_a_task_opens(engine):
    case_id = open_case(engine, today=OPENED)
    sms, email = str(uuid.uuid4()), str(uuid.uuid4())
    mark = outbox_mark(engine)
    with engine.begin() as connection:
        on_message_failed(connection, bus("message.failed", {
            "notification_id": sms, "case_id": case_id, "channel": "sms", "provider": "twilio",
            "error_code": "21211", "permanent": True, "address": "+8613900000001"}))
        assert connection.execute(select(owners.c.contact_status)).scalar_one() == "reachable"
        # The bounce overtakes the notifier's "sent": it is tied to the owner when "sent" arrives.
        on_delivery_reported(connection, bus("delivery.reported", {
            "provider": "sendgrid", "channel": "email", "provider_message_id": "sg-1",
            "notification_id": email, "address": "owner@example.com", "status": "bounce",
            "error_code": None, "reported_at": datetime.now(UTC)}))
        on_message_sent(connection, bus("message.sent", {
            "notification_id": email, "case_id": case_id, "channel": "email", "provider": "sendgrid",
            "provider_message_id": "sg-1", "sent_at": datetime.now(UTC), "address": "owner@example.com"}))
        assert connection.execute(select(owners.c.contact_status)).scalar_one() == "unreachable"
        assert connection.execute(select(staff_tasks.c.kind)).scalars().all() == ["reverify_contacts"]
    assert "owner.unreachable" in types(events_since(engine, mark))


def test_a_text_reply_promising_a_date_records_the_promise(engine):
    case_id = open_case(engine, today=OPENED)
    with engine.begin() as connection:
        on_owner_replied(connection, bus("owner.replied", {
            "channel": "sms", "sender": "+8613900000001", "body": "下周五交", "provider_message_id": "SMx",
            "received_at": local_noon(OPENED), "intent": "promise_to_pay",
            "promised_date": OPENED + timedelta(days=9)}))
        promise = connection.execute(select(promises)).one()
    assert (promise.case_id, promise.promised_date, promise.source) == (case_id, OPENED + timedelta(days=9), "sms")


def test_a_complaint_by_text_opens_an_issue_that_pauses_the_case(engine):
    case_id = open_case(engine, today=OPENED, due=OPENED - timedelta(days=1))
    with engine.begin() as connection:
        on_owner_replied(connection, bus("owner.replied", {
            "channel": "sms", "sender": "+8613900000001", "body": "电梯坏了修好就交",
            "provider_message_id": "SMy", "received_at": local_noon(OPENED), "intent": "complaint",
            "category": "lifts"}))
    assert sweep(engine, local_noon(OPENED + timedelta(days=29))).moved == 0
    assert case_row(engine, case_id).stage == "reminder"


def test_an_opt_out_stops_that_channel_only(engine):
    open_case(engine, today=OPENED)
    with engine.begin() as connection:
        on_suppression_changed(connection, bus("suppression.changed", {
            "channel": "sms", "address": "+8613900000001", "opted_out": True, "source": "reply"}))
        statuses = dict(connection.execute(select(owner_contacts.c.channel, owner_contacts.c.status)).all())
    assert statuses == {"sms": "opted_out", "email": "ok"}
    mark = outbox_mark(engine)
    sweep(engine, local_noon(OPENED + timedelta(days=3)))  # a repeat day of the reminder stage
    reminder = next(e for e in events_since(engine, mark) if e["type"] == "reminder.requested")
    assert reminder["payload"]["channels"] == ["email"]


def test_a_missed_issue_deadline_goes_to_the_communitys_supervisor(engine):
    case_id = open_case(engine, today=OPENED)
    owner_id = case_row(engine, case_id).owner_id
    now = datetime(2026, 10, 1, 4, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(insert(staff).values(id="sup-1", username="sup", name="Sup", role="supervisor",
                                                password_hash="x", active=True, created_at=now))
        connection.execute(insert(staff_communities).values(staff_id="sup-1", community=COMMUNITY))
        issue_id = owner_issue.open_issue(connection, owner_id=owner_id, community=COMMUNITY, case_id=case_id,
                                          category="leaks", description="漏水", source="sms", actor="owner", now=now)
        assert owner_issue.mark_breaches(connection, now + timedelta(hours=23), supervisor_for) == 0
        assert owner_issue.mark_breaches(connection, now + timedelta(hours=25), supervisor_for) == 1
        assert owner_issue.mark_breaches(connection, now + timedelta(hours=26), supervisor_for) == 0
        row = connection.execute(select(owner_issue.owner_issues).where(
            owner_issue.owner_issues.c.id == issue_id)).one()
    assert row.assignee_id == "sup-1" and row.breached_at is not None


def test_reimporting_the_same_owner_and_ledger_changes_nothing(engine):
    record = register.OwnerRecord(COMMUNITY, "张三", phones=("+8613900000009",), external_ref="O-9")
    with engine.begin() as connection:
        first = register.upsert_owner(connection, record)
        unit_id = register.upsert_unit(connection, register.UnitRecord(COMMUNITY, "2", "302"), first)
        ledger = register.LedgerRecord(register.UnitRecord(COMMUNITY, "2", "302"), "2026",
                                       Decimal("999.00"), date(2026, 9, 30))
        assert register.upsert_ledger(connection, unit_id, ledger) is True
        again = register.upsert_owner(connection, record)
        assert register.upsert_ledger(connection, unit_id, ledger) is False
    assert first == again


def test_an_email_reply_to_the_tokenised_address_reaches_the_owner_even_from_another_address(engine):
    from shared.config import Settings
    from shared.reply_address import ReplyRoute, reply_address

    case_id = open_case(engine, today=OPENED)
    owner_id = case_row(engine, case_id).owner_id
    address = reply_address(Settings.from_env().secret_key, "reply.example.com", ReplyRoute(owner_id, "n-1"))
    with engine.begin() as connection:
        on_owner_replied(connection, bus("owner.replied", {
            "channel": "email", "sender": "someone.else@example.net", "recipient": address,
            "body": "电梯坏了", "provider_message_id": "<m1@example.net>", "received_at": local_noon(OPENED),
            "intent": "complaint", "category": "lifts"}))
        reply = connection.execute(select(owner_replies)).one()
    assert (reply.owner_id, reply.case_id) == (owner_id, case_id)


def test_a_blocked_bounce_does_not_mark_the_email_bad(engine):
    case_id = open_case(engine, today=OPENED)
    notification = str(uuid.uuid4())
    with engine.begin() as connection:
        on_message_sent(connection, bus("message.sent", {
            "notification_id": notification, "case_id": case_id, "channel": "email", "provider": "sendgrid",
            "provider_message_id": "sg-2", "sent_at": datetime.now(UTC), "address": "owner@example.com"}))
        on_delivery_reported(connection, bus("delivery.reported", {
            "provider": "sendgrid", "channel": "email", "provider_message_id": "sg-2",
            "notification_id": notification, "address": "owner@example.com", "status": "bounce",
            "error_code": "blocked:5.7.1", "reported_at": datetime.now(UTC)}))
        status = connection.execute(select(owner_contacts.c.status).where(
            owner_contacts.c.channel == "email")).scalar_one()
    assert status == "ok"
