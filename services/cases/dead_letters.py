"""Dead-letter tools for ops: list and inspect dead messages, replay them, purge a dead-letter queue.

Each consuming service has one dead-letter queue (`<service>.dead`, see shared/topology.py). A
dead message is read by taking it from the queue without acknowledging it and giving it back
afterwards, so looking never loses anything. A replay publishes the original bytes, message id
and correlation id (confirmed by the broker) to the work queue the message died in, then removes
it from the dead-letter queue: the consumer's inbox sees to it that a message already handled
has no second effect. Every action is recorded in `ops_audit` with who did it, and logged.

Personal data never leaves here in clear: payloads are masked with shared/masking.py.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from kombu import Exchange
from sqlalchemy import Engine

from services.cases.tables import ops_audit
from shared.masking import mask_fields, mask_text
from shared.messaging import EventPublisher, connect
from shared.topology import SUBSCRIPTIONS, ServiceQueues, Topology

log = logging.getLogger(__name__)
DEFAULT_EXCHANGE = Exchange("", type="direct")
MAX_HELD = 10_000  # messages looked at in one pass; a bigger queue is worked in several passes
# Headers a replay drops: the broker's and our own record of the previous life.
DEATH_HEADERS = ("x-death", "x-death-reason", "x-first-death-queue", "x-first-death-reason",
                 "x-first-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-last-death-exchange",
                 "x-retries", "x-delivery-count")


class UnknownService(LookupError):
    """No service of that name has a dead-letter queue."""


@dataclass
class DeadLetter:
    message_id: str | None
    type: str | None
    correlation_id: str | None
    queue: str  # the dead-letter queue it sits in
    origin: str  # the work queue it died in, where a replay sends it
    deaths: list[dict] = field(default_factory=list)  # RabbitMQ's x-death: reason, queue, count, time
    death_reason: str | None = None  # our x-death-reason (embedded transport)
    retries: int | None = None
    published_at: str | None = None
    payload: object = None  # masked

    def as_dict(self) -> dict:
        return asdict(self)


def describe(message, service_queues: ServiceQueues) -> DeadLetter:
    properties, headers = message.properties or {}, dict(message.headers or {})
    envelope = _envelope(message.body)
    deaths = [
        {"reason": d.get("reason"), "queue": d.get("queue"), "count": d.get("count"),
         "time": _iso(d.get("time"))}
        for d in headers.get("x-death") or [] if isinstance(d, dict)
    ]
    stamp = properties.get("timestamp")
    return DeadLetter(
        message_id=properties.get("message_id") or (envelope or {}).get("id"),
        type=(envelope or {}).get("type"),
        correlation_id=properties.get("correlation_id") or (envelope or {}).get("correlation_id"),
        queue=service_queues.dead.name,
        origin=origin_of(headers, service_queues),
        deaths=deaths,
        death_reason=mask_text(str(headers["x-death-reason"])) if headers.get("x-death-reason") else None,
        retries=headers.get("x-retries"),
        published_at=_iso(stamp),
        payload=mask_fields(envelope.get("payload")) if envelope else _undecodable(message.body),
    )


def origin_of(headers: dict, service_queues: ServiceQueues) -> str:
    """The work queue a message died in: x-first-death-queue / x-death, if it is one of the service's."""
    ours = {q.name for q in service_queues.all} - {service_queues.dead.name}
    named = [headers.get("x-first-death-queue")] + [d.get("queue") for d in headers.get("x-death") or []
                                                    if isinstance(d, dict)]
    for name in named:
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if name == service_queues.work.name:
            return name
        if name in ours:  # died in a delay queue: it was on its way back to the work queue anyway
            return service_queues.work.name
    return service_queues.work.name


def _envelope(body) -> dict | None:
    try:
        value = json.loads(body if isinstance(body, (str, bytes)) else bytes(body))
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _undecodable(body) -> str:
    raw = body if isinstance(body, bytes) else str(body).encode("utf-8", "replace")
    return f"<{len(raw)} bytes, not a JSON envelope>"


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).isoformat()
    return str(value)


class DeadLetterBox:
    """The dead-letter queues of every consuming service, on RabbitMQ or the embedded broker."""

    def __init__(self, broker_url: str, namespace: str = ""):
        self.broker_url = broker_url
        self.topology = Topology(namespace)

    def queues_of(self, service: str) -> ServiceQueues:
        if service not in SUBSCRIPTIONS:
            raise UnknownService(service)
        return self.topology.queues(service)

    @contextmanager
    def _held(self, service: str, limit: int = MAX_HELD) -> Iterator[tuple[list, object, ServiceQueues]]:
        """Take up to `limit` dead messages unacknowledged; whatever is not acked goes back on exit."""
        service_queues = self.queues_of(service)
        with connect(self.broker_url) as connection:
            channel = connection.channel()
            dead = service_queues.dead(channel)
            dead.declare()
            held = []
            try:
                while len(held) < limit:
                    message = dead.get(no_ack=False, accept=None)
                    if message is None:
                        break
                    held.append(message)
                yield held, connection, service_queues
            finally:
                for message in held:
                    if not message.acknowledged:
                        message.reject(requeue=True)
                channel.close()

    def list(self, service: str, limit: int = 100) -> list[DeadLetter]:
        with self._held(service, limit) as (held, _, service_queues):
            return [describe(message, service_queues) for message in held]

    def show(self, service: str, message_id: str) -> DeadLetter | None:
        with self._held(service) as (held, _, service_queues):
            for message in held:
                if (message.properties or {}).get("message_id") == message_id:
                    return describe(message, service_queues)
        return None

    def replay(self, service: str, message_id: str | None = None) -> list[str]:
        """Send one dead message (by id) or all of them back to their work queue; the ids replayed."""
        replayed = []
        with self._held(service) as (held, connection, service_queues):
            publisher = EventPublisher(connection.clone(), self.topology)
            try:
                for message in held:
                    properties = message.properties or {}
                    if message_id is not None and properties.get("message_id") != message_id:
                        continue
                    headers = {k: v for k, v in (message.headers or {}).items() if k not in DEATH_HEADERS}
                    headers["x-replayed"] = int((message.headers or {}).get("x-replayed", 0)) + 1
                    publisher.publish_raw(
                        message.body, origin_of(dict(message.headers or {}), service_queues),
                        exchange=DEFAULT_EXCHANGE, message_id=properties.get("message_id") or "",
                        correlation_id=properties.get("correlation_id") or "", headers=headers)
                    message.ack()  # only once the broker has confirmed the copy
                    replayed.append(properties.get("message_id") or "")
            finally:
                publisher.connection.release()
        return replayed

    def purge(self, service: str) -> int:
        service_queues = self.queues_of(service)
        with connect(self.broker_url) as connection:
            channel = connection.channel()
            dead = service_queues.dead(channel)
            dead.declare()
            count = dead.purge() or 0
            channel.close()
        return count


def audit(engine: Engine, *, actor: str, actor_kind: str, action: str, queue: str,
          message_id: str | None = None, affected: int = 0, detail: dict | None = None) -> None:
    """Record who did what to which dead-letter queue, in ops_audit and in the JSON log."""
    at = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(ops_audit.insert().values(
            at=at, actor=actor[:128], actor_kind=actor_kind, action=action, queue=queue[:200],
            message_id=message_id, affected=affected, detail=detail))
    log.info("ops action", extra={"actor": actor, "actor_kind": actor_kind, "action": action, "queue": queue,
                                  "message_id": message_id, "affected": affected})
