"""The gate's PostgreSQL statements (batch_gate._PG_…): every check still decided, in one group.

The reads (opt-outs, the owners' sends, the community's day, the wordings' version) come back
as one statement and the admission with its ledger claim as another; each check must still see
what it saw when they were separate. The dispatcher's group commit also begins the transaction
with the claim's statements and commits it with the ledger claims (admit_committed).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import insert, select, text

from services.notifier import batch_gate
from services.notifier.composer import wordings_version
from services.notifier.governor import Caps
from services.notifier.group_commit import GroupCommit
from services.notifier.tables import pending_sends, send_ledger, suppressions
from services.notifier.templates import Wording
from services.notifier.templates.overrides import save
from tests import support
from tests.unit.test_batch_gate import gates_for
from tests.unit.test_governor import COMMUNITY, FAST, at, phone_of, worlds

pytestmark = pytest.mark.postgres
DAY = date(2025, 3, 12)


@pytest.fixture
def world_at(postgres_url, tmp_path):
    support.migrate_postgres("notifier", postgres_url)
    with worlds(tmp_path, postgres_url) as build:
        yield build


def claimed(world) -> dict[str, str]:
    with world.engine.connect() as connection:
        return {r.notification_id: r.status for r in connection.execute(select(send_ledger))}


def test_one_owners_sends_are_weighed_in_turn_and_the_admitted_are_claimed_once(world_at):
    world = world_at(at(DAY, "09:30"))
    first, second = (world.request(owner="owner-1", channels=["sms"]) for _ in range(2))
    other = world.request(owner="owner-2", channels=["sms"])

    with world.engine.begin() as connection:
        admissions = batch_gate.admit_all(connection, gates_for(world, (first, "sms"), (second, "sms"),
                                                                (other, "sms")))

    assert [a.held for a in admissions] == [None, "deferred", None]
    assert world.row(second, "sms")["reason"].startswith("sms already sent to this owner in this window")
    assert claimed(world) == {first: "claimed", other: "claimed"}
    assert {world.row(n, "sms")["status"] for n in (first, other)} == {"sending"}
    assert world.row(first, "sms")["sent_at"] == world.now and world.row(first, "sms")["attempts"] == 1


def test_an_owner_already_sent_to_earlier_is_counted(world_at):
    world = world_at(at(DAY, "09:30"))
    earlier = world.request(owner="owner-1", channels=["sms"])
    with world.engine.begin() as connection:
        batch_gate.admit_all(connection, gates_for(world, (earlier, "sms")))
    later = world.request(owner="owner-1", channels=["sms"], case_id="case-2")

    with world.engine.begin() as connection:
        [admission] = batch_gate.admit_all(connection, gates_for(world, (later, "sms")))

    assert admission.held == "deferred"
    assert claimed(world) == {earlier: "claimed"}


def test_an_opted_out_address_is_skipped_and_never_claimed(world_at):
    world = world_at(at(DAY, "09:30"))
    opted_out, other = world.request(owner="owner-1", channels=["sms"]), world.request(owner="owner-2",
                                                                                       channels=["sms"])
    gates = gates_for(world, (opted_out, "sms"), (other, "sms"))
    with world.engine.begin() as connection:  # as if the opt-out landed after the send was picked
        connection.execute(insert(suppressions).values(
            channel="sms", address=phone_of("owner-1"), suppressed=True, source="owner_reply",
            changed_at=world.now, updated_at=world.now))

    with world.engine.begin() as connection:
        admissions = batch_gate.admit_all(connection, gates)

    assert [a.held for a in admissions] == ["skipped", None]
    assert world.row(opted_out, "sms")["reason"] == "suppressed: opted out of sms (owner_reply)"
    assert claimed(world) == {other: "claimed"}


def test_the_community_budget_counts_sends_already_made_and_those_admitted_before_in_the_group(world_at):
    world = world_at(at(DAY, "09:30"), replace(FAST, caps=Caps(community_per_day=2)))
    earlier = world.request(owner="owner-0", channels=["sms"])
    with world.engine.begin() as connection:
        batch_gate.admit_all(connection, gates_for(world, (earlier, "sms")))
    second, third = world.request(owner="owner-1", channels=["sms"]), world.request(owner="owner-2",
                                                                                    channels=["sms"])

    with world.engine.begin() as connection:
        admissions = batch_gate.admit_all(connection, gates_for(world, (second, "sms"), (third, "sms")))

    assert [a.held for a in admissions] == [None, "deferred"]
    assert world.row(third, "sms")["reason"].startswith("community daily budget of 2 reached")


def test_a_send_the_ledger_already_has_is_held_with_the_ledgers_status(world_at):
    world = world_at(at(DAY, "09:30"))
    send = world.request(owner="owner-1", channels=["sms"])
    with world.engine.begin() as connection:  # a crashed run claimed it on the ledger and sent it
        connection.execute(insert(send_ledger).values(
            notification_id=send, channel="sms", case_id="case-owner-1", owner_id="owner-1", status="sent",
            attempts=1, claimed_at=world.now, updated_at=world.now))

    with world.engine.begin() as connection:
        [admission] = batch_gate.admit_all(connection, gates_for(world, (send, "sms")))

    assert admission.held == "sent"
    assert claimed(world) == {send: "sent"}


def test_the_wordings_version_is_the_one_the_composer_reads(world_at):
    world = world_at(at(DAY, "09:30"))
    with world.engine.begin() as connection:
        save(connection, COMMUNITY, "reminder", "sms", "zh-CN", Wording("{{ name }}，请缴费。"), "staff-1",
             datetime.now(UTC))
    send = world.request(owner="owner-1", channels=["sms"])

    with world.engine.begin() as connection:
        [admission] = batch_gate.admit_all(connection, gates_for(world, (send, "sms")))
        assert admission.wording_seen == wordings_version(connection)
        assert admission.wording_seen[0] == connection.scalar(text("SELECT count(*) FROM template_overrides")) == 1


# --- the dispatcher's way: begun and committed with the gate's own statements (admit_committed) ---

def committed_group(world) -> GroupCommit:
    return GroupCommit(world.engine, batch_gate.admit_committed, prepare=batch_gate.autocommitted)


def statuses(world) -> dict[str, str]:
    with world.engine.connect() as connection:  # another connection: only what was committed
        return {r.notification_id: r.status for r in connection.execute(select(pending_sends))}


def test_admitted_sends_are_claimed_and_committed_when_the_group_returns(world_at):
    world = world_at(at(DAY, "09:30"))
    first, second = (world.request(owner="owner-1", channels=["sms"]) for _ in range(2))
    other = world.request(owner="owner-2", channels=["sms"])
    group = committed_group(world)

    admissions = [group.submit(g) for g in gates_for(world, (first, "sms"), (second, "sms"), (other, "sms"))]

    assert [a.held for a in admissions] == [None, "deferred", None]
    assert claimed(world) == {first: "claimed", other: "claimed"}
    assert statuses(world) == {first: "sending", second: "deferred", other: "sending"}
    assert world.row(first, "sms")["attempts"] == 1
    [kept] = group._idle
    assert kept.connection.driver_connection.autocommit  # its own BEGIN and COMMIT, nothing left open
    assert kept.connection.driver_connection.pgconn.transaction_status == TransactionStatus.IDLE
    group.release()


def test_a_group_that_admits_nothing_still_commits_its_deferrals(world_at):
    world = world_at(at(DAY, "09:30"), replace(FAST, caps=Caps(community_per_day=0)))
    send = world.request(owner="owner-1", channels=["sms"])
    group = committed_group(world)

    [admission] = [group.submit(g) for g in gates_for(world, (send, "sms"))]

    assert admission.held == "deferred"
    assert statuses(world) == {send: "deferred"}
    assert claimed(world) == {}
    group.release()


def test_a_failure_before_the_commit_leaves_nothing_claimed_and_every_caller_hears_it(world_at, monkeypatch):
    world = world_at(at(DAY, "09:30"))
    sends = [world.request(owner=f"owner-{n}", channels=["sms"]) for n in range(3)]
    gates = gates_for(world, *((n, "sms") for n in sends))

    def lost(*_args, **_kwargs):
        raise OSError("the database went away")

    monkeypatch.setattr(batch_gate, "_admit_and_claim", lost)
    with world.engine.connect() as connection:
        batch_gate.autocommitted(connection)
        with pytest.raises(OSError), connection.begin():
            batch_gate.admit_committed(connection, gates)
        assert connection.connection.driver_connection.pgconn.transaction_status == TransactionStatus.IDLE

    assert statuses(world) == dict.fromkeys(sends, "pending")  # the claim's BEGIN was rolled back
    assert claimed(world) == {}


def test_a_send_the_ledger_already_had_is_held_with_its_status_through_the_group(world_at):
    world = world_at(at(DAY, "09:30"))
    send, other = world.request(owner="owner-1", channels=["sms"]), world.request(owner="owner-2",
                                                                                 channels=["sms"])
    with world.engine.begin() as connection:
        connection.execute(insert(send_ledger).values(
            notification_id=send, channel="sms", case_id="case-owner-1", owner_id="owner-1", status="sent",
            attempts=1, claimed_at=world.now, updated_at=world.now))
    group = committed_group(world)

    admissions = [group.submit(g) for g in gates_for(world, (send, "sms"), (other, "sms"))]

    assert [a.held for a in admissions] == ["sent", None]
    assert claimed(world) == {send: "sent", other: "claimed"}
    assert statuses(world) == {send: "sent", other: "sending"}
    group.release()
