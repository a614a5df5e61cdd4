"""The notifier takes what the broker already delivered as one batch (one transaction), like the
other services, and still nudges its send loops for what the batch kept."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import event as sqla_event

from shared.envelope import decode, new_event
from tests.unit.test_cancellation import payment
from tests.unit.test_governor import COMMUNITY, at, worlds

DAY = date(2025, 3, 12)


@pytest.fixture
def world_at(tmp_path):
    with worlds(tmp_path) as build:
        yield build


def reminder(owner: str) -> tuple[str, dict]:
    return "reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": f"case-{owner}", "community": COMMUNITY,
        "stage": "reminder", "slot": 0, "send_on": DAY, "channels": ["sms"], "template": "reminder",
        "recipient": {"owner_id": owner, "name": "王芳", "phone": "+8613800138000", "email": None,
                      "locale": "zh-CN"},
        "context": {"amount_owed": "2860.00", "community": COMMUNITY},
    }


def commits(engine) -> list[int]:
    seen: list[int] = []
    sqla_event.listen(engine, "commit", lambda _connection: seen.append(1))
    return seen


def test_a_batch_is_handled_in_one_transaction_in_order_and_wakes_the_dispatcher(world_at):
    world = world_at(at(DAY, "06:00"))
    woken: list[str] = []
    handle = world.notifier.handle
    handle.wake, handle.wake_prompt = (lambda: woken.append("dispatcher")), (lambda: woken.append("prompt"))
    batch = [replace(decode(new_event(type_, payload).to_json()), occurred_at=world.now)
             for type_, payload in (reminder("owner-1"), reminder("neighbour"), payment("owner-1"))]
    counted = commits(world.engine)

    outcomes = handle.handle_batch(batch)

    assert outcomes == [None, None, None]
    assert len(counted) == 1
    assert {r["owner_id"]: r["status"] for r in world.rows()} == {"owner-1": "cancelled", "neighbour": "pending"}
    assert woken == ["dispatcher"]


def test_a_redelivered_batch_changes_nothing(world_at):
    world = world_at(at(DAY, "06:00"))
    handle = world.notifier.handle
    batch = [replace(decode(new_event(*reminder("owner-1")).to_json()), occurred_at=world.now)]
    handle.handle_batch(batch)
    before = world.rows()
    woken: list[str] = []
    handle.wake = lambda: woken.append("dispatcher")

    assert handle.handle_batch(batch) == [None]
    assert world.rows() == before
    assert woken == ["dispatcher"]  # handled (as a duplicate): a nudge costs nothing and is harmless
