"""The whole messaging topology in one place, imported by publishers and consumers alike.

One topic exchange carries every domain event; each consuming service has one quorum work
queue bound to the event types it handles, one dead-letter queue, and a ladder of delayed-retry
queues whose TTL dead-letters back into the work queue. A `namespace` prefixes every name so
test runs can share a broker without seeing each other's messages.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kombu import Exchange, Queue, binding

# Seconds a message waits before its n-th retry; the last value caps the backoff.
RETRY_DELAYS = (1, 5, 30, 120)
MAX_RETRIES = 6
# A message redelivered this often (its consumer crashing on it) is dead-lettered by RabbitMQ.
DELIVERY_LIMIT = 20

# Which event types each service consumes. Routing keys are the envelope `type`.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "cases": (
        "message.sent",
        "message.failed",
        "delivery.reported",
        "owner.replied",
        "suppression.changed",
        "form.submitted",  # the owner's answer on the reply form
    ),
    "notifier": (
        "reminder.requested",
        "case.escalated",  # carries the new stage's notice
        "delivery.reported",
        "community.configured",  # the calendar sends wait for
        "case.closed",  # these four cancel sends still waiting
        "promise.recorded",
        "payment.recorded",
        "suppression.changed",
        "autoreply.requested",  # answers to owners' replies: sent promptly, governed, never in quiet hours
        "staff_report.requested",  # reports emailed to managers: governor-free
    ),
    "gateway": (  # where owners live, so replies are read in their community's timezone
        "community.configured",
        "reminder.requested",
        "case.escalated",
    ),
}


def _quorum(**arguments) -> dict:
    return {"x-queue-type": "quorum", **arguments}


@dataclass(frozen=True)
class ServiceQueues:
    service: str
    work: Queue
    dead: Queue
    retries: tuple[Queue, ...]

    def retry_queue(self, attempt: int) -> Queue:
        """Queue for the n-th retry (1-based); past the ladder, the longest delay."""
        return self.retries[min(attempt, len(self.retries)) - 1]

    @property
    def all(self) -> tuple[Queue, ...]:
        return (self.work, self.dead, *self.retries)


@dataclass(frozen=True)
class Topology:
    namespace: str = ""

    @cached_property
    def events(self) -> Exchange:
        return Exchange(f"{self.namespace}fees.events", type="topic", durable=True)

    @cached_property
    def dead_letters(self) -> Exchange:
        return Exchange(f"{self.namespace}fees.dead", type="direct", durable=True)

    def queues(self, service: str) -> ServiceQueues:
        name = f"{self.namespace}{service}"
        work = Queue(
            f"{name}.events",
            bindings=[binding(self.events, routing_key=key) for key in SUBSCRIPTIONS[service]],
            durable=True,
            queue_arguments=_quorum(
                **{
                    "x-dead-letter-exchange": self.dead_letters.name,
                    "x-dead-letter-routing-key": name,
                    "x-delivery-limit": DELIVERY_LIMIT,
                }
            ),
        )
        dead = Queue(
            f"{name}.dead",
            exchange=self.dead_letters,
            routing_key=name,
            durable=True,
            queue_arguments=_quorum(),
        )
        retries = tuple(
            Queue(
                f"{name}.retry.{delay}s",
                durable=True,
                queue_arguments=_quorum(
                    **{
                        "x-message-ttl": delay * 1000,
                        # The default exchange routes by queue name: back to the work queue.
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": work.name,
                    }
                ),
            )
            for delay in RETRY_DELAYS
        )
        return ServiceQueues(service, work, dead, retries)

    def all_queues(self) -> list[ServiceQueues]:
        return [self.queues(service) for service in SUBSCRIPTIONS]

    def declare(self, connection_or_channel) -> None:
        """Declare every exchange and queue of the system (idempotent).

        Publishers declare the consumers' queues too: on the embedded (virtual) transport
        bindings live in each process, so a publisher must know them to route anything.
        """
        channel = getattr(connection_or_channel, "default_channel", connection_or_channel)
        for exchange in (self.events, self.dead_letters):
            exchange(channel).declare()
        for queues in self.all_queues():
            for queue in queues.all:
                _declare_queue(queue(channel))


def _declare_queue(queue) -> None:
    """Declare one queue. The embedded transport (kombu's SQLAlchemy one) creates a queue's row
    without a lock, so two processes starting together can both try to insert it: the loser's
    unique-key error means the queue exists now, and declaring it again finds it."""
    for attempt in range(3):
        try:
            queue.declare()
            return
        except Exception as exc:
            if attempt == 2 or "UNIQUE constraint failed: kombu_queue" not in str(exc):
                raise
            session = getattr(queue.channel, "session", None)
            if session is not None:
                session.rollback()  # kombu leaves its session in the failed transaction


def main() -> None:
    """`python -m shared.topology`: declare every exchange and queue on BROKER_URL (idempotent).

    `make run` does this once before starting its processes, so that on the embedded broker they
    find the queues already there instead of racing to create them."""
    from shared.config import Settings
    from shared.messaging import connect

    settings = Settings.from_env()
    with connect(settings.broker_url) as connection:
        Topology(settings.broker_namespace).declare(connection)


if __name__ == "__main__":
    main()
