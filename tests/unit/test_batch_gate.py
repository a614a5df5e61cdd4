"""Sends gated together: each still weighed in turn, claimed once, and worded as saved before its claim."""
from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import create_engine, select, text

from services.notifier import batch_gate
from services.notifier.gate import PendingSendGate
from services.notifier.group_commit import GroupCommit
from services.notifier.tables import pending_sends, send_ledger
from services.notifier.templates import Wording
from services.notifier.templates.overrides import save
from tests.unit.test_governor import COMMUNITY, at, worlds

DAY = date(2025, 3, 12)


@pytest.fixture
def world_at(tmp_path):
    with worlds(tmp_path) as build:
        yield build


def gates_for(world, *keys: tuple[str, str]) -> list[PendingSendGate]:
    dispatcher = world.notifier.dispatcher
    with world.engine.connect() as connection:
        calendar = dispatcher.book.for_community(connection, COMMUNITY)
        rows = {(r.notification_id, r.channel): r for r in connection.execute(select(pending_sends))}
    return [PendingSendGate(rows[key], calendar, calendar.window_at(world.now), dispatcher.governor, world.now)
            for key in keys]


def test_one_owners_sends_in_one_group_are_weighed_in_turn_and_only_the_first_is_claimed(world_at):
    world = world_at(at(DAY, "09:30"))
    first, second = (world.request(owner="owner-1", channels=["sms"]) for _ in range(2))
    other = world.request(owner="owner-2", channels=["sms"])

    with world.engine.begin() as connection:
        admissions = batch_gate.admit_all(connection, gates_for(world, (first, "sms"), (second, "sms"),
                                                                (other, "sms")))

    assert [a.held for a in admissions] == [None, "deferred", None]
    assert world.row(second, "sms")["reason"].startswith("sms already sent to this owner in this window")
    with world.engine.connect() as connection:
        claimed = {r.notification_id: r.status for r in connection.execute(select(send_ledger))}
    assert claimed == {first: "claimed", other: "claimed"}


def test_a_send_cancelled_or_claimed_before_the_group_ran_is_not_claimed_again(world_at):
    world = world_at(at(DAY, "09:30"))
    cancelled, taken = world.request(owner="owner-1", channels=["sms"]), world.request(owner="owner-2",
                                                                                       channels=["sms"])
    gates = gates_for(world, (cancelled, "sms"), (taken, "sms"))
    with world.engine.begin() as connection:
        connection.execute(text("UPDATE pending_sends SET status = 'cancelled' WHERE notification_id = :n"),
                           {"n": cancelled})
        batch_gate.admit_all(connection, gates_for(world, (taken, "sms")))

    with world.engine.begin() as connection:
        admissions = batch_gate.admit_all(connection, gates)

    assert [a.held for a in admissions] == ["cancelled", "cancelled"]
    with world.engine.connect() as connection:
        assert connection.execute(select(send_ledger.c.notification_id)).scalars().all() == [taken]


def test_wording_saved_before_a_claim_is_the_wording_that_send_goes_out_with(world_at):
    world = world_at(at(DAY, "09:30"))
    world.request(owner="owner-1", channels=["sms"])
    world.tick()
    with world.engine.begin() as connection:
        save(connection, COMMUNITY, "reminder", "sms", "zh-CN", Wording("{{ name }}，新的措辞：请缴费。"),
             "staff-1", datetime.now(UTC))
    world.now = at(DAY, "14:00")
    world.request(owner="owner-2", channels=["sms"])

    world.tick()

    bodies = [r["Body"] for r in world.twilio.requests]
    assert len(bodies) == 2 and "新的措辞" not in bodies[0] and "新的措辞" in bodies[1]


def test_callers_arriving_together_share_transactions_and_all_hear_a_failure(tmp_path):
    batches: list[list[int]] = []
    started = threading.Barrier(8)

    def work(_connection, items):
        if not batches:  # hold the first transaction until everyone else is waiting for the next
            deadline = time.monotonic() + 5
            while len(group._waiting) < 8 - len(items) and time.monotonic() < deadline:
                time.sleep(0.001)
        batches.append(list(items))
        if -1 in items:
            raise RuntimeError("the database went away")
        return [item * 10 for item in items]

    engine = create_engine(f"sqlite:///{tmp_path / 'group.sqlite'}")
    group = GroupCommit(engine, work)
    results: dict[int, object] = {}

    def call(item: int) -> None:
        started.wait()
        try:
            results[item] = group.submit(item)
        except RuntimeError as exc:
            results[item] = str(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in (*range(1, 8), -1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(batches) <= 2  # the first caller's transaction, then everybody who came meanwhile
    assert sorted(item for batch in batches for item in batch) == sorted((*range(1, 8), -1))
    failed_with = next(batch for batch in batches if -1 in batch)
    assert all(results[n] == "the database went away" for n in failed_with)
    assert all(results[n] == n * 10 for batch in batches if -1 not in batch for n in batch)
    group.release()
    engine.dispose()
