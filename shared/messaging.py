"""Broker connections and the confirmed, persistent JSON publisher."""
from __future__ import annotations

import logging

from kombu import Connection, Exchange, Producer

from shared.envelope import Envelope
from shared.topology import Topology

log = logging.getLogger(__name__)

# Bounded: a publish that still fails after this is the caller's error to handle.
PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2.0}


def is_native_amqp(connection: Connection) -> bool:
    """True on RabbitMQ, where dead-lettering and TTLs are done by the broker itself."""
    return connection.transport_cls in {"amqp", "pyamqp", "amqps"}


def connect(url: str, heartbeat: int = 0) -> Connection:
    """Open a connection with publisher confirms (AMQP) or fast polling (embedded SQL broker)."""
    if url.startswith(("sqla+", "sqlalchemy+")):
        # Options here go to create_engine: wait for SQLite's write lock instead of failing.
        connection = Connection(url, transport_options={"connect_args": {"timeout": 30}})
        # The embedded broker polls a table; 50 ms keeps replies well under a second.
        connection.transport.polling_interval = 0.05
        return connection
    return Connection(
        url, transport_options={"confirm_publish": True}, heartbeat=heartbeat, connect_timeout=5
    )


def broker_ready(url: str) -> bool:
    try:
        with connect(url) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


class EventPublisher:
    """Publish envelopes to the events exchange: JSON, persistent, confirmed, bounded retry."""

    def __init__(self, connection: Connection, topology: Topology):
        self.connection = connection
        self.topology = topology
        self._declared = False
        self._producer: Producer | None = None

    def _ensure_ready(self) -> Producer:
        if not self._declared:
            self.connection.ensure_connection(max_retries=3)
            self.topology.declare(self.connection)
            self._declared = True
        if self._producer is None:
            self._producer = Producer(self.connection)
        return self._producer

    def publish(self, envelope: Envelope) -> None:
        self.publish_raw(
            envelope.to_json(), envelope.type, message_id=envelope.id,
            correlation_id=envelope.correlation_id,
        )

    def publish_raw(
        self, body: str | bytes, routing_key: str, *, message_id: str, correlation_id: str,
        exchange: Exchange | None = None, headers: dict | None = None,
    ) -> None:
        producer = self._ensure_ready()
        publish = self.connection.ensure(
            producer, producer.publish, on_revive=self._on_revive, **PUBLISH_RETRY_POLICY,
        )
        publish(
            body,
            exchange=exchange if exchange is not None else self.topology.events,
            routing_key=routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=message_id,
            correlation_id=correlation_id,
            headers=headers or {},
        )

    def _on_revive(self, channel) -> None:
        # kombu has revived the producer on the new channel; a restarted broker may have
        # lost non-durable state, so declare the topology again.
        self.topology.declare(self.connection)
