"""The outbox relays events in order and keeps what it could not publish; the inbox runs a handler once."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select

from shared.consumer import PermanentFailure
from shared.db import make_engine
from shared.dispatch import InboxDispatcher
from shared.envelope import Envelope, new_event
from shared.inbox import inbox_table
from shared.messaging import Outgoing, PublishIncomplete
from shared.outbox import OutboxRelay, add_to_outbox, outbox_table
from tests.unit.sqlite_services import row_count

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
# What a handler changes, so a test can see whether its transaction committed.
effects = Table("effects", metadata, Column("message_id", String(64), nullable=False))


class RecordingPublisher:
    """Our own publishing port; refuses every publish from call number `fail_from` on."""

    def __init__(self, fail_from: int | None = None):
        self.published: list[dict] = []
        self.calls = 0
        self.fail_from = fail_from

    def publish_many(self, messages: list[Outgoing]) -> None:
        confirmed = set()
        for index, message in enumerate(messages):
            self.calls += 1
            if self.fail_from is not None and self.calls >= self.fail_from:
                raise PublishIncomplete(f"publish {self.calls} not confirmed", confirmed)
            self.published.append({"body": message.body, "routing_key": message.routing_key,
                                   "message_id": message.message_id, "correlation_id": message.correlation_id})
            confirmed.add(index)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'service.sqlite'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def case_closed(n: int) -> Envelope:
    return new_event("case.closed", {"case_id": f"case-{n}", "owner_id": "owner-1", "reason": "paid"})


def staged(engine, count: int) -> list[Envelope]:
    events = [case_closed(n) for n in range(count)]
    for batch in (events[:2], events[2:]):  # two transactions: the order spans them
        with engine.begin() as connection:
            add_to_outbox(connection, outbox, *batch)
    return events


def pending_ids(engine) -> list[str]:
    with engine.connect() as connection:
        return connection.execute(
            select(outbox.c.message_id).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq)
        ).scalars().all()


def test_the_relay_publishes_pending_rows_in_order_and_marks_them_published(engine):
    events = staged(engine, 4)
    publisher = RecordingPublisher()

    assert OutboxRelay(engine, outbox, publisher).relay_once() == 4

    assert [p["message_id"] for p in publisher.published] == [e.id for e in events]
    assert publisher.published[0] == {"body": events[0].to_json(), "routing_key": "case.closed",
                                      "message_id": events[0].id, "correlation_id": events[0].correlation_id}
    assert pending_ids(engine) == []


def test_a_second_pass_publishes_nothing_already_published(engine):
    staged(engine, 3)
    publisher = RecordingPublisher()
    relay = OutboxRelay(engine, outbox, publisher)
    relay.relay_once()

    assert relay.relay_once() == 0
    assert len(publisher.published) == 3


def test_a_publish_failing_on_the_third_row_keeps_the_first_two_published_and_the_rest_pending(engine):
    events = staged(engine, 5)
    publisher = RecordingPublisher(fail_from=3)

    with pytest.raises(PublishIncomplete):
        OutboxRelay(engine, outbox, publisher).relay_once()

    assert [p["message_id"] for p in publisher.published] == [e.id for e in events[:2]]
    assert pending_ids(engine) == [e.id for e in events[2:]]


def test_the_next_pass_after_a_failure_publishes_only_what_was_left_in_order(engine):
    events = staged(engine, 5)
    with pytest.raises(PublishIncomplete):
        OutboxRelay(engine, outbox, RecordingPublisher(fail_from=3)).relay_once()
    recovered = RecordingPublisher()

    assert OutboxRelay(engine, outbox, recovered).relay_once() == 3

    assert [p["message_id"] for p in recovered.published] == [e.id for e in events[2:]]
    assert pending_ids(engine) == []


def test_a_pass_publishes_at_most_one_batch(engine):
    events = staged(engine, 5)
    publisher = RecordingPublisher()

    assert OutboxRelay(engine, outbox, publisher, batch_size=2).relay_once() == 2

    assert pending_ids(engine) == [e.id for e in events[2:]]


def test_staging_no_events_writes_no_row(engine):
    with engine.begin() as connection:
        add_to_outbox(connection, outbox)

    assert OutboxRelay(engine, outbox, RecordingPublisher()).relay_once() == 0


def test_an_event_staged_in_a_rolled_back_transaction_is_never_relayed(engine):
    with pytest.raises(RuntimeError), engine.begin() as connection:
        add_to_outbox(connection, outbox, case_closed(1))
        raise RuntimeError("the domain change failed")

    publisher = RecordingPublisher()
    assert OutboxRelay(engine, outbox, publisher).relay_once() == 0 and publisher.published == []


def test_purging_removes_old_published_rows_and_never_pending_ones(engine):
    events = staged(engine, 4)
    relay = OutboxRelay(engine, outbox, RecordingPublisher(), batch_size=2)
    relay.relay_once()

    assert relay.purge_published() == 0  # published just now: kept for a week
    assert relay.purge_published(older_than=timedelta(seconds=-1)) == 2

    assert row_count(engine, outbox) == 2 and pending_ids(engine) == [e.id for e in events[2:]]


# --- inbox -------------------------------------------------------------------------------------

class RecordingHandler:
    """Writes an effect row per call; raises (after writing) while `failures` is positive."""

    def __init__(self, failures: int = 0):
        self.calls: list[str] = []
        self.failures = failures

    def __call__(self, connection, envelope: Envelope) -> None:
        self.calls.append(envelope.id)
        connection.execute(insert(effects).values(message_id=envelope.id))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("handler failed halfway")


def test_the_same_envelope_delivered_twice_runs_its_handler_once(engine):
    handler = RecordingHandler()
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": handler})
    event = case_closed(1)

    dispatch(event)
    dispatch(event)

    assert handler.calls == [event.id]
    assert (row_count(engine, effects), row_count(engine, inbox)) == (1, 1)


def test_different_envelopes_each_run_the_handler(engine):
    handler = RecordingHandler()
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": handler})

    dispatch(case_closed(1))
    dispatch(case_closed(1))  # same content, new message id: a new event

    assert len(handler.calls) == 2 and row_count(engine, effects) == 2


def test_a_failing_handler_rolls_back_its_inbox_record_so_a_retry_runs_it_again(engine):
    handler = RecordingHandler(failures=1)
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": handler})
    event = case_closed(1)

    with pytest.raises(RuntimeError):
        dispatch(event)

    assert (row_count(engine, effects), row_count(engine, inbox)) == (0, 0)

    dispatch(event)

    assert handler.calls == [event.id, event.id]
    assert (row_count(engine, effects), row_count(engine, inbox)) == (1, 1)


def test_an_event_type_without_a_handler_is_a_permanent_failure_and_is_not_recorded(engine):
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": RecordingHandler()})
    event = Envelope(type="case.reopened", payload={"case_id": "case-1"}, id=str(uuid.uuid4()))

    with pytest.raises(PermanentFailure):
        dispatch(event)

    assert row_count(engine, inbox) == 0
