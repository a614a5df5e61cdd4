"""Broker connections and the confirmed, persistent JSON publisher.

On RabbitMQ the publisher puts its channel in confirm mode itself and waits for confirms per
batch, not per message: the broker confirms a whole batch in about the time it takes to confirm
one. A batch reports exactly which messages were confirmed, so the outbox marks only those.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from kombu import Connection, Exchange, Producer

from shared import metrics
from shared.envelope import Envelope
from shared.topology import Topology

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 30.0  # seconds to wait for the broker to confirm a batch
SINGLE_PUBLISH_ATTEMPTS = 3  # bounded: after this, a single publish is the caller's error


class PublishIncomplete(Exception):
    """Some messages of a batch were not confirmed; `confirmed` holds the indexes that were."""

    def __init__(self, message: str, confirmed: set[int]):
        super().__init__(message)
        self.confirmed = confirmed


@dataclass(frozen=True)
class Outgoing:
    body: str | bytes
    routing_key: str
    message_id: str
    correlation_id: str
    exchange: Exchange | None = None
    headers: dict = field(default_factory=dict)


def is_native_amqp(connection: Connection) -> bool:
    """True on RabbitMQ, where dead-lettering and TTLs are done by the broker itself."""
    return connection.transport_cls in {"amqp", "pyamqp", "amqps"}


def connect(url: str, heartbeat: int = 30) -> Connection:
    """Open a broker connection: RabbitMQ with heartbeats, or the embedded SQL broker."""
    if url.startswith(("sqla+", "sqlalchemy+")):
        # Options here go to create_engine: wait for SQLite's write lock instead of failing.
        connection = Connection(url, transport_options={"connect_args": {"timeout": 30}})
        # The embedded broker polls a table; 50 ms keeps replies well under a second.
        connection.transport.polling_interval = 0.05
        return connection
    # Heartbeats let a half-open TCP connection fail instead of hanging a confirm wait.
    return Connection(url, heartbeat=heartbeat, connect_timeout=5)


def broker_ready(url: str) -> bool:
    try:
        with connect(url) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


class _Confirms:
    """Track which publishes on a confirm-mode channel the broker has acked."""

    def __init__(self, channel):
        channel.confirm_select()
        channel.events["basic_ack"].add(self._ack)
        channel.events["basic_nack"].add(self._nack)
        self.last_tag = 0  # delivery tags count publishes on the channel from 1
        self.pending: dict[int, int] = {}
        self.acked: set[int] = set()
        self.nacked: set[int] = set()

    def start_batch(self) -> None:
        self.pending.clear()
        self.acked = set()
        self.nacked = set()

    def published(self, index: int) -> None:
        self.last_tag += 1
        self.pending[self.last_tag] = index

    def _settle(self, tag: int, multiple: bool, into: set[int]) -> None:
        tags = [t for t in self.pending if t <= tag] if multiple else [tag]
        for t in tags:
            index = self.pending.pop(t, None)
            if index is not None:
                into.add(index)

    def _ack(self, delivery_tag, multiple=False):
        self._settle(delivery_tag, multiple, self.acked)

    def _nack(self, delivery_tag, multiple=False):
        self._settle(delivery_tag, multiple, self.nacked)


class EventPublisher:
    """Publish to the events exchange: JSON, persistent, confirmed by the broker."""

    def __init__(self, connection: Connection, topology: Topology, confirm_timeout: float = CONFIRM_TIMEOUT):
        self.connection = connection
        self.topology = topology
        self.confirm_timeout = confirm_timeout
        self.native = is_native_amqp(connection)
        self._producer: Producer | None = None
        self._confirms: _Confirms | None = None

    def _ready(self) -> Producer:
        if self._producer is None:
            self.connection.ensure_connection(max_retries=3, interval_start=0.2, interval_step=0.5)
            self.topology.declare(self.connection)
            channel = self.connection.channel()
            self._confirms = _Confirms(channel) if self.native else None
            self._producer = Producer(channel)
        return self._producer

    def _reset(self) -> None:
        """Forget a broken connection; the next publish opens a new one."""
        self._producer = None
        self._confirms = None
        old, self.connection = self.connection, self.connection.clone()
        with contextlib.suppress(Exception):  # already dead; nothing to release cleanly
            old.release()

    def publish(self, envelope: Envelope) -> None:
        self.publish_raw(envelope.to_json(), envelope.type, message_id=envelope.id,
                         correlation_id=envelope.correlation_id)

    def publish_raw(self, body: str | bytes, routing_key: str, *, message_id: str, correlation_id: str,
                    exchange: Exchange | None = None, headers: dict | None = None) -> None:
        """Publish one message, retrying a broken connection a bounded number of times."""
        message = Outgoing(body, routing_key, message_id, correlation_id, exchange, headers or {})
        for attempt in range(1, SINGLE_PUBLISH_ATTEMPTS + 1):
            try:
                self.publish_many([message])
                return
            except PublishIncomplete:
                if attempt == SINGLE_PUBLISH_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)

    def publish_many(self, messages: list[Outgoing]) -> None:
        """Publish a batch and wait once for its confirms; PublishIncomplete says what got through."""
        if not messages:
            return
        try:
            producer = self._ready()
        except Exception as exc:
            self._reset()
            raise PublishIncomplete(f"broker unavailable: {type(exc).__name__}: {exc}", set()) from exc
        confirms = self._confirms
        if confirms is not None:
            confirms.start_batch()
        sent: set[int] = set()
        try:
            for index, message in enumerate(messages):
                producer.publish(
                    message.body,
                    exchange=message.exchange if message.exchange is not None else self.topology.events,
                    routing_key=message.routing_key,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    headers=message.headers,
                    # Whole seconds (AMQP's timestamp): ops read a queue's oldest message age from it.
                    timestamp=int(time.time()),
                )
                if confirms is not None:
                    confirms.published(index)
                else:
                    sent.add(index)  # the embedded broker has committed it already
            if confirms is not None:
                self._wait_for(confirms)
                sent = confirms.acked
        except Exception as exc:
            confirmed = set(confirms.acked) if confirms is not None else sent
            self._reset()
            raise PublishIncomplete(f"publish failed: {type(exc).__name__}: {exc}", confirmed) from exc
        published = Counter(messages[index].routing_key for index in sent)
        for routing_key, count in published.items():
            metrics.messages_published().labels(routing_key).inc(count)
        if len(sent) != len(messages):
            raise PublishIncomplete(f"broker refused {len(messages) - len(sent)} message(s)", set(sent))

    def _wait_for(self, confirms: _Confirms) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        while confirms.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(confirms.pending)} confirm(s) not received in time")
            self.connection.drain_events(timeout=remaining)
