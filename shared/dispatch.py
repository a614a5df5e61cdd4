"""Hand each event to its handler exactly once, in one transaction with its inbox record."""
from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, Table

from shared.consumer import PermanentFailure
from shared.envelope import Envelope
from shared.inbox import first_delivery

log = logging.getLogger(__name__)
Handler = Callable[[Connection, Envelope], None]


class InboxDispatcher:
    def __init__(self, engine: Engine, inbox: Table, handlers: dict[str, Handler]):
        self.engine = engine
        self.inbox = inbox
        self.handlers = handlers

    def __call__(self, envelope: Envelope) -> None:
        handler = self.handlers.get(envelope.type)
        if handler is None:
            raise PermanentFailure(f"no handler for {envelope.type}")
        with self.engine.begin() as connection:
            if not first_delivery(connection, self.inbox, envelope.id, envelope.type):
                log.info("duplicate delivery ignored", extra={"message_id": envelope.id, "type": envelope.type})
                return
            handler(connection, envelope)
