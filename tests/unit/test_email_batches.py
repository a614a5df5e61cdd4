"""Reminder emails batched into SendGrid requests: one request, each owner's own email, each row settled."""
from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from services.notifier.email_batch import MAX_PERSONALIZATIONS, Addressed, Shape, batches
from services.notifier.providers import Email
from services.notifier.tables import send_ledger
from shared.reply_address import ReplyRoute, read_reply_address
from tests.fakes.replies import Reply
from tests.unit.test_governor import COMMUNITY, at, worlds

DAY = date(2025, 3, 12)


@pytest.fixture
def world_at(tmp_path):
    with worlds(tmp_path) as build:
        yield build


def email_request(world, owner: str, name: str = "王芳", amount: str = "2860.00") -> str:
    notification_id = str(uuid.uuid4())
    world.deliver("reminder.requested", {
        "notification_id": notification_id, "case_id": f"case-{owner}", "community": COMMUNITY,
        "stage": "reminder", "slot": 0, "channels": ["email"], "template": "reminder",
        "recipient": {"owner_id": owner, "name": name, "phone": None, "email": f"{owner}@example.com",
                      "locale": "zh-CN"},
        "context": {"amount_owed": amount, "community": COMMUNITY},
    })
    return notification_id


def alone(world, notification_id: str) -> Email:
    """The email this send would have been on its own."""
    payload = json.loads(world.row(notification_id, "email")["payload"])
    return world.notifier.sender.composer.email(notification_id, payload)


def ledger_rows(world) -> dict[str, dict]:
    with world.engine.connect() as connection:
        return {r["notification_id"]: dict(r) for r in connection.execute(select(send_ledger)).mappings()}


def test_reminder_emails_due_together_go_in_one_request_each_owner_getting_their_own_email(world_at):
    world = world_at(at(DAY, "09:30"))
    owners = {f"owner-{n}": (f"业主{n}", f"{1000 + n}.50") for n in range(5)}
    sent = {email_request(world, owner, name, amount): owner for owner, (name, amount) in owners.items()}

    outcomes = world.tick()

    assert outcomes["sent"] == 5
    [(message_id, mail)] = world.sendgrid.accepted
    assert len(mail["personalizations"]) == 5
    got = {m["custom_args"]["notification_id"]: m for _, m in world.sendgrid.messages}
    assert set(got) == set(sent)
    secret = world.notifier.sender.composer.secret_key
    for notification_id, owner in sent.items():
        expected = alone(world, notification_id)
        email = got[notification_id]
        assert (email["to"], email["subject"], email["text"], email["html"], email["reply_to"]) == (
            [expected.to], expected.subject, expected.text, expected.html, expected.reply_to)
        assert owners[owner][0] in email["text"] and owners[owner][1] in email["text"]
        assert read_reply_address(secret, email["reply_to"]) == ReplyRoute(owner, notification_id)
    ledger = ledger_rows(world)
    assert {(r["status"], r["provider_message_id"]) for r in ledger.values()} == {("sent", message_id)}
    assert {world.row(n, "email")["status"] for n in sent} == {"sent"}


def test_an_email_that_cannot_share_its_content_goes_alone_and_exactly_as_it_would_have(world_at):
    world = world_at(at(DAY, "09:30"))
    plain = [email_request(world, f"owner-{n}") for n in range(3)]
    odd = email_request(world, "owner-odd", name="%%amount%%")  # a value that looks like a tag

    world.tick()

    assert len(world.sendgrid.accepted) == 2
    sizes = sorted(len(mail["personalizations"]) for _, mail in world.sendgrid.accepted)
    assert sizes == [1, 3]
    got = {m["custom_args"]["notification_id"]: m for _, m in world.sendgrid.messages}
    assert got[odd]["text"] == alone(world, odd).text and "%%amount%%" in got[odd]["text"]
    assert {world.row(n, "email")["status"] for n in [*plain, odd]} == {"sent"}


def test_a_throttled_batch_sends_nothing_and_leaves_every_email_for_retry(world_at):
    world = world_at(at(DAY, "09:30"))
    sent = [email_request(world, f"owner-{n}") for n in range(3)]
    world.sendgrid.script(Reply.error(429))

    outcomes = world.tick()

    assert outcomes["retry"] == 3 and world.sendgrid.messages == []
    assert {world.row(n, "email")["status"] for n in sent} == {"pending"}
    assert {r["status"] for r in ledger_rows(world).values()} == {"retry"}


def test_a_batch_whose_answer_was_lost_is_unknown_for_every_email_and_never_sent_again(world_at):
    world = world_at(at(DAY, "09:30"))
    sent = [email_request(world, f"owner-{n}") for n in range(3)]
    world.sendgrid.script(Reply.accepted_then_error(500))

    world.tick()
    world.tick()

    assert len(world.sendgrid.requests) == 1 and len(world.sendgrid.messages) == 3
    assert {world.row(n, "email")["status"] for n in sent} == {"unknown"}
    assert {r["status"] for r in ledger_rows(world).values()} == {"unknown"}


def test_a_refused_batch_is_sent_again_one_email_at_a_time_so_only_the_one_at_fault_fails(world_at):
    world = world_at(at(DAY, "09:30"))
    sent = [email_request(world, f"owner-{n}") for n in range(3)]
    world.sendgrid.script(Reply.error(400), Reply.ok(), Reply.error(400), Reply.ok())

    world.tick()

    assert [len(m["personalizations"]) for m in world.sendgrid.requests] == [3, 1, 1, 1]
    at_fault = world.sendgrid.requests[2]["custom_args"]["notification_id"]  # sent alone: message level
    assert {n: world.row(n, "email")["status"] for n in sent} == {
        n: "failed" if n == at_fault else "sent" for n in sent}
    assert len(world.sendgrid.messages) == 2


def test_emails_sharing_content_are_split_at_sendgrids_limit_and_the_others_go_alone():
    shape = Shape("text %%name%%", None, None)

    def one(n: int) -> Addressed:
        return Addressed(Email(f"o{n}@example.com", "s", "t", str(n)), {"%%name%%": str(n)})

    grouped = batches([(one(n), shape) for n in range(MAX_PERSONALIZATIONS + 1)] + [(one(-1), None)])

    assert [len(b.emails) for b in grouped] == [MAX_PERSONALIZATIONS, 1, 1]
    assert [b.shape for b in grouped] == [shape, shape, None]
