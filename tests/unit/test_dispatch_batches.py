"""A delivered batch is handled in one transaction; a failure in it costs nothing but its own message."""
from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, insert, select

from shared.consumer import PermanentFailure
from shared.db import make_engine
from shared.dispatch import InboxDispatcher
from shared.envelope import Envelope, new_event
from shared.inbox import inbox_table

metadata = MetaData()
inbox = inbox_table(metadata)
effects = Table("effects", metadata, Column("message_id", String(64), nullable=False))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'service.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


class Transactions:
    """Counts the commits and rollbacks on an engine."""

    def __init__(self, engine):
        self.commits = 0
        self.rollbacks = 0
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _commit(self, _connection):
        self.commits += 1

    def _rollback(self, _connection):
        self.rollbacks += 1


class Effects:
    """A handler writing one effect row per call; raises (after writing) for the ids in `failing`."""

    def __init__(self, failing: dict[str, Exception] | None = None):
        self.calls: list[str] = []
        self.failing = failing or {}

    def __call__(self, connection, envelope: Envelope) -> None:
        self.calls.append(envelope.id)
        connection.execute(insert(effects).values(message_id=envelope.id))
        if envelope.id in self.failing:
            raise self.failing[envelope.id]


def case_closed(n: int) -> Envelope:
    return new_event("case.closed", {"case_id": f"case-{n}", "owner_id": "owner-1", "reason": "paid"})


def payment(n: int) -> Envelope:
    return Envelope(type="payment.recorded", payload={"payment_id": f"p-{n}"})


def effect_ids(engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(effects.c.message_id)).scalars())


def inbox_ids(engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(inbox.c.message_id)).scalars())


def test_a_batch_commits_once_with_one_effect_and_one_inbox_row_per_message(engine):
    handler = Effects()
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": handler})
    events = [case_closed(n) for n in range(5)]
    transactions = Transactions(engine)

    outcomes = dispatch.handle_batch(events)

    assert outcomes == [None] * 5
    assert transactions.commits == 1
    assert handler.calls == [e.id for e in events]
    assert effect_ids(engine) == inbox_ids(engine) == sorted(e.id for e in events)


def test_a_duplicate_in_the_same_batch_or_an_earlier_one_has_no_second_effect(engine):
    handler = Effects()
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": handler})
    first, second, third = case_closed(1), case_closed(2), case_closed(3)

    assert dispatch.handle_batch([first, second, first]) == [None, None, None]
    assert dispatch.handle_batch([second, third, third]) == [None, None, None]
    dispatch(first)

    assert handler.calls == [first.id, second.id, third.id]
    assert effect_ids(engine) == inbox_ids(engine) == sorted([first.id, second.id, third.id])


def test_a_failing_message_in_the_middle_rolls_the_batch_back_and_the_others_commit_once_each(engine):
    events = [case_closed(n) for n in range(5)]
    bad = events[2]
    handler = Effects(failing={bad.id: RuntimeError("database hiccup")})
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": handler})
    transactions = Transactions(engine)

    outcomes = dispatch.handle_batch(events)

    assert [type(o).__name__ if o else None for o in outcomes] == [None, None, "RuntimeError", None, None]
    # The batch got as far as the bad one and was rolled back; then each message on its own, in order.
    assert handler.calls == [e.id for e in events[:3]] + [e.id for e in events]
    assert transactions.commits == 4
    assert effect_ids(engine) == inbox_ids(engine) == sorted(e.id for e in events if e is not bad)

    # Its retry is a new delivery: it has its effect once.
    handler.failing.clear()
    assert dispatch.handle_batch([bad]) == [None]
    assert effect_ids(engine) == sorted(e.id for e in events)


def test_a_permanent_failure_in_a_batch_is_only_that_messages_outcome(engine):
    events = [case_closed(n) for n in range(3)]
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": Effects(failing={events[0].id: PermanentFailure("x")})})

    outcomes = dispatch.handle_batch(events)

    assert isinstance(outcomes[0], PermanentFailure) and outcomes[1:] == [None, None]
    assert effect_ids(engine) == sorted(e.id for e in events[1:])


def test_an_event_without_a_handler_fails_alone_and_does_not_spoil_the_batch(engine):
    handler = Effects()
    dispatch = InboxDispatcher(engine, inbox, {"case.closed": handler})
    events = [case_closed(1), case_closed(2), payment(3), case_closed(4), case_closed(5)]
    transactions = Transactions(engine)

    outcomes = dispatch.handle_batch(events)

    assert isinstance(outcomes[2], PermanentFailure)
    assert [o for i, o in enumerate(outcomes) if i != 2] == [None] * 4
    assert transactions.commits == 2  # the two before it, and the two after it
    assert effect_ids(engine) == inbox_ids(engine) == sorted(e.id for i, e in enumerate(events) if i != 2)


def test_an_unbatched_type_gets_its_own_transaction_in_its_place_in_delivery_order(engine):
    order: list[str] = []

    def record(connection, envelope):
        order.append(envelope.type)
        connection.execute(insert(effects).values(message_id=envelope.id))

    dispatch = InboxDispatcher(engine, inbox, {"case.closed": record, "payment.recorded": record},
                               unbatched={"payment.recorded"})
    events = [case_closed(1), case_closed(2), payment(3), case_closed(4), case_closed(5)]
    transactions = Transactions(engine)

    assert dispatch.handle_batch(events) == [None] * 5

    assert order == [e.type for e in events]
    assert transactions.commits == 3
    assert effect_ids(engine) == sorted(e.id for e in events)


def test_an_unbatched_type_must_be_one_with_a_handler(engine):
    with pytest.raises(ValueError, match="payment.recorded"):
        InboxDispatcher(engine, inbox, {"case.closed": Effects()}, unbatched={"payment.recorded"})
