"""A thin event consumer: decode, validate, hand to a handler, then ack, retry or dead-letter.

- A message that cannot be decoded or validated goes to the dead-letter queue at once.
- A handler raising `PermanentFailure` dead-letters the message too.
- Any other exception is treated as transient and retried through the delayed-retry queues,
  at most MAX_RETRIES times, then dead-lettered. Nothing is acked away silently.

Messages are handled in batches of what the broker has already delivered (at most the prefetch):
after each delivery the consumer takes whatever else is waiting on the connection, without
waiting for more, then hands the batch over in delivery order and settles each message after
the handler returns. A handle with `handle_batch` (InboxDispatcher) commits a batch in one
transaction, so every ack comes after the commit; a crash before it redelivers the batch and the
inbox absorbs what was committed already. A plain callable is called once per message.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from itertools import count
from typing import Protocol

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


class BatchHandle(Protocol):
    """A handle that takes several envelopes at once; `handle_batch` says how each one went.

    It returns one entry per envelope, in order: None (handled, or a duplicate) or the exception
    that envelope's handling raised, classified as a single message's would be.
    """

    def __call__(self, envelope: Envelope) -> None: ...

    def handle_batch(self, envelopes: Sequence[Envelope]) -> list[Exception | None]: ...


class EventConsumer(ConsumerMixin):
    def __init__(
        self,
        connection: Connection,
        topology: Topology,
        service: str,
        handle: Callable[[Envelope], None] | BatchHandle,
        prefetch_count: int = 32,
        batch_wait_seconds: float = 0.0,
    ):
        self.connection = connection
        self.queues: ServiceQueues = topology.queues(service)
        self.topology = topology
        self.handle = handle
        self.prefetch_count = prefetch_count
        # At most what the broker may have delivered unacked; 0 (no prefetch limit) still bounds it.
        self.batch_size = max(1, prefetch_count or 32)
        # How long to wait for one more delivery before handling what was taken: 0 means take only
        # what has already arrived, so a lone message never waits for a batch to fill.
        self.batch_wait_seconds = batch_wait_seconds
        self.native = is_native_amqp(connection)
        self._taken: list = []
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

    def consume(self, limit=None, timeout=None, safety_interval=1, **kwargs):
        """ConsumerMixin's loop, handling after each wait what was delivered meanwhile as one batch."""
        elapsed = 0
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            try:
                for _ in limit and range(limit) or count():
                    if self.should_stop:
                        break
                    self.on_iteration()
                    try:
                        conn.drain_events(timeout=safety_interval)
                    except TimeoutError:
                        conn.heartbeat_check()
                        elapsed += safety_interval
                        if timeout and elapsed >= timeout:
                            raise
                    except OSError:
                        if not self.should_stop:
                            raise
                    else:
                        self._take_delivered(conn)
                        self.handle_taken()
                        yield
                        elapsed = 0
            finally:
                # Left unhandled only when the connection failed: unacked, the broker redelivers them.
                self._taken = []
        log.debug("consume exiting")

    def _take_delivered(self, conn) -> None:
        """Let on_message take what is already waiting on the connection, up to a batch."""
        while self._taken and len(self._taken) < self.batch_size:
            try:
                conn.drain_events(timeout=self.batch_wait_seconds)
            except TimeoutError:
                return

    def on_message(self, message) -> None:
        self._taken.append(message)

    def handle_taken(self) -> None:
        """Handle the messages taken so far, in delivery order; ack, retry or dead-letter each."""
        taken, self._taken = self._taken, []
        decoded = []
        for message in taken:
            try:
                decoded.append((message, decode(message.body)))
            except InvalidMessage as exc:
                self.dead_letter(message, f"invalid: {exc}", kind="invalid")
        handle_batch = getattr(self.handle, "handle_batch", None)
        if handle_batch is None:
            for message, envelope in decoded:
                self._settle(message, envelope, self._run_one(envelope))
            return
        if decoded:
            self._settle_batch(decoded, handle_batch([envelope for _, envelope in decoded]))

    def _settle_batch(self, decoded: list, outcomes: list[Exception | None]) -> None:
        """Settle in delivery order; on RabbitMQ a run of handled messages is acked in one frame."""
        handled: list = []  # handled, not acked yet, oldest first
        for (message, envelope), error in zip(decoded, outcomes, strict=True):
            if error is None and self.native:
                handled.append(message)
                continue
            self._ack_handled(handled)
            self._settle(message, envelope, error)
        self._ack_handled(handled)

    def _ack_handled(self, handled: list) -> None:
        # Everything delivered before the newest of them is settled already, so `multiple` acks
        # exactly these. (The embedded transport ignores `multiple`: there each is acked alone.)
        if handled:
            handled[-1].ack(multiple=True)
            metrics.messages_consumed().labels(self.queues.work.name).inc(len(handled))
            handled.clear()

    def _run_one(self, envelope: Envelope) -> Exception | None:
        token = bind_correlation_id(envelope.correlation_id)
        try:
            self.handle(envelope)
        except Exception as exc:
            return exc
        finally:
            reset_correlation_id(token)
        return None

    def _settle(self, message, envelope: Envelope, error: Exception | None) -> None:
        token = bind_correlation_id(envelope.correlation_id)
        try:
            if error is None:
                message.ack()
                metrics.messages_consumed().labels(self.queues.work.name).inc()
            elif isinstance(error, PermanentFailure):
                self.dead_letter(message, f"permanent: {error}", envelope, kind="permanent")
            else:
                self.retry_later(message, envelope, error)
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

