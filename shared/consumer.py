"""A thin event consumer: decode, validate, hand to a handler, then ack, retry or dead-letter.

- A message that cannot be decoded or validated goes to the dead-letter queue at once.
- A handler raising `PermanentFailure` dead-letters the message too.
- Any other exception is treated as transient and retried through the delayed-retry queues,
  at most MAX_RETRIES times, then dead-lettered. Nothing is acked away silently.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from kombu import Connection, Consumer, Exchange
from kombu.mixins import ConsumerMixin

from shared import metrics
from shared.envelope import Envelope, InvalidMessage, decode
from shared.logs import bind_correlation_id, reset_correlation_id
from shared.messaging import EventPublisher, is_native_amqp
from shared.topology import MAX_RETRIES, RETRY_DELAYS, ServiceQueues, Topology

log = logging.getLogger(__name__)
RETRY_HEADER = "x-retries"
DEFAULT_EXCHANGE = Exchange("", type="direct")


class PermanentFailure(Exception):
    """The message is valid but can never be handled; retrying would not help."""


class EventConsumer(ConsumerMixin):
    def __init__(
        self,
        connection: Connection,
        topology: Topology,
        service: str,
        handle: Callable[[Envelope], None],
        prefetch_count: int = 32,
    ):
        self.connection = connection
        self.queues: ServiceQueues = topology.queues(service)
        self.topology = topology
        self.handle = handle
        self.prefetch_count = prefetch_count
        self.native = is_native_amqp(connection)
        # Dead-lettering and retries republish through a second connection, so a blocked
        # consumer channel never waits on its own publish.
        self.republisher = EventPublisher(connection.clone(), topology)

    def get_consumers(self, Consumer_: type[Consumer], channel):
        self.topology.declare(channel)
        consumer = Consumer_(
            queues=[self.queues.work], on_message=self.on_message, accept=["json"]
        )
        consumer.qos(prefetch_count=self.prefetch_count)
        return [consumer]

    def on_message(self, message) -> None:
        try:
            envelope = decode(message.body)
        except InvalidMessage as exc:
            self.dead_letter(message, f"invalid: {exc}", kind="invalid")
            return
        token = bind_correlation_id(envelope.correlation_id)
        try:
            self.handle(envelope)
        except PermanentFailure as exc:
            self.dead_letter(message, f"permanent: {exc}", envelope, kind="permanent")
        except Exception as exc:
            self.retry_later(message, envelope, exc)
        else:
            message.ack()
            metrics.messages_consumed().labels(self.queues.work.name).inc()
        finally:
            reset_correlation_id(token)

    def dead_letter(self, message, reason: str, envelope: Envelope | None = None, kind: str = "other") -> None:
        metrics.messages_rejected().labels(self.queues.work.name, kind).inc()
        log.warning(
            "message dead-lettered",
            extra={"queue": self.queues.work.name, "reason": reason,
                   "message_id": envelope.id if envelope else message.properties.get("message_id"),
                   "type": envelope.type if envelope else None},
        )
        if self.native:
            message.reject(requeue=False)  # RabbitMQ routes it to the DLX with x-death
            return
        headers = dict(message.headers or {})
        headers.update({"x-death-reason": reason[:500], "x-first-death-queue": self.queues.work.name})
        self._republish(message, self.topology.dead_letters, self.queues.dead.routing_key, headers)
        message.ack()

    def retry_later(self, message, envelope: Envelope, exc: Exception) -> None:
        attempt = int((message.headers or {}).get(RETRY_HEADER, 0)) + 1
        if attempt > MAX_RETRIES:
            self.dead_letter(message, f"retries exhausted: {type(exc).__name__}: {exc}", envelope,
                             kind="retries_exhausted")
            return
        metrics.messages_retried().labels(self.queues.work.name).inc()
        log.warning(
            "handler failed; retrying later",
            extra={"queue": self.queues.work.name, "message_id": envelope.id, "attempt": attempt,
                   "error": f"{type(exc).__name__}: {exc}"},
        )
        headers = {**(message.headers or {}), RETRY_HEADER: attempt}
        if self.native:
            queue = self.queues.retry_queue(attempt)
            self._republish(message, DEFAULT_EXCHANGE, queue.name, headers)
        else:
            # The embedded transport has no TTL: wait here (briefly) and put it back.
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
            time.sleep(min(delay, 2) * random.uniform(0.8, 1.0))
            self._republish(message, DEFAULT_EXCHANGE, self.queues.work.name, headers)
        message.ack()

    def _republish(self, message, exchange: Exchange, routing_key: str, headers: dict) -> None:
        # The original bytes go on unchanged, even when they are not valid UTF-8 or JSON.
        self.republisher.publish_raw(
            message.body, routing_key,
            exchange=exchange,
            message_id=message.properties.get("message_id") or "",
            correlation_id=message.properties.get("correlation_id") or "",
            headers=headers,
        )

