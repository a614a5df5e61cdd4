"""Hand each event to its handler exactly once, in one transaction with its inbox record.

The consumer hands over what the broker has already delivered as a batch (`handle_batch`): its
messages share one transaction, their inbox records written in one statement, and are acked
after the commit. If any handler in it raises (or the commit fails), the whole transaction is
rolled back and each of its messages is handled again in a transaction of its own, so the good
ones commit and the failing one alone is retried or dead-lettered. A type in `unbatched` is
always handled alone, in its place in delivery order: one whose handler does something a shared
transaction cannot take back (a provider call, a direct publish).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection, Engine, Table

from shared.consumer import PermanentFailure
from shared.envelope import Envelope
from shared.inbox import first_deliveries, first_delivery
from shared.logs import bind_correlation_id, reset_correlation_id

log = logging.getLogger(__name__)
Handler = Callable[[Connection, Envelope], None]


class InboxDispatcher:
    def __init__(self, engine: Engine, inbox: Table, handlers: dict[str, Handler],
                 unbatched: Iterable[str] = ()):
        self.engine = engine
        self.inbox = inbox
        self.handlers = handlers
        self.unbatched = frozenset(unbatched)
        unknown = self.unbatched - set(handlers)
        if unknown:
            raise ValueError(f"unbatched types without a handler: {sorted(unknown)}")

    def __call__(self, envelope: Envelope) -> None:
        """Handle one event in its own transaction."""
        handler = self.handlers.get(envelope.type)
        if handler is None:
            raise PermanentFailure(f"no handler for {envelope.type}")
        with self.engine.begin() as connection:
            if not first_delivery(connection, self.inbox, envelope.id, envelope.type):
                _log_duplicate(envelope)
                return
            _apply(handler, connection, envelope)

    def handle_batch(self, envelopes: Sequence[Envelope]) -> list[Exception | None]:
        """Handle events in delivery order, together where they can be; how each one went, in order."""
        outcomes: list[Exception | None] = [None] * len(envelopes)
        together: list[int] = []
        for index, envelope in enumerate(envelopes):
            if envelope.type in self.handlers and envelope.type not in self.unbatched:
                together.append(index)
                continue
            self._handle_together(envelopes, together, outcomes)
            together = []
            outcomes[index] = self._handle_alone(envelope)
        self._handle_together(envelopes, together, outcomes)
        return outcomes

    def _handle_together(self, envelopes: Sequence[Envelope], indexes: list[int],
                         outcomes: list[Exception | None]) -> None:
        if len(indexes) < 2:
            for index in indexes:
                outcomes[index] = self._handle_alone(envelopes[index])
            return
        batch = [envelopes[index] for index in indexes]
        try:
            with self.engine.begin() as connection:
                new = first_deliveries(connection, self.inbox, [(e.id, e.type) for e in batch])
                for envelope in batch:
                    if envelope.id not in new:
                        _log_duplicate(envelope)
                        continue
                    new.discard(envelope.id)  # the same id again later in this batch is a duplicate
                    _apply(self.handlers[envelope.type], connection, envelope)
        except Exception as exc:
            # Nothing of the batch was kept: each message gets its own transaction, and its own outcome.
            log.warning("batch rolled back; handling its messages one at a time",
                        extra={"messages": len(batch), "error": type(exc).__name__})
            for index in indexes:
                outcomes[index] = self._handle_alone(envelopes[index])

    def _handle_alone(self, envelope: Envelope) -> Exception | None:
        try:
            self(envelope)
        except Exception as exc:
            return exc
        return None


def _apply(handler: Handler, connection: Connection, envelope: Envelope) -> None:
    token = bind_correlation_id(envelope.correlation_id)
    try:
        handler(connection, envelope)
    finally:
        reset_correlation_id(token)


def _log_duplicate(envelope: Envelope) -> None:
    token = bind_correlation_id(envelope.correlation_id)
    try:
        log.info("duplicate delivery ignored", extra={"message_id": envelope.id, "type": envelope.type})
    finally:
        reset_correlation_id(token)
