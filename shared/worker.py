"""A service's background process: its event consumer and its outbox relay, stopped cleanly."""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from sqlalchemy import Engine, Table

from shared.config import Settings
from shared.consumer import EventConsumer
from shared.envelope import Envelope
from shared.messaging import EventPublisher, connect
from shared.metrics import enable_multiprocess
from shared.outbox import OutboxRelay
from shared.topology import Topology

log = logging.getLogger(__name__)


def run_worker(
    settings: Settings,
    service: str,
    engine: Engine,
    outbox: Table,
    handle: Callable[[Envelope], None] | None,
    background: tuple[Callable[[threading.Event], None], ...] = (),
) -> None:
    """Relay the outbox (and any `background` loops) in threads; consume in the main thread.

    Everything stops cleanly on SIGTERM/SIGINT: each background loop gets the stop event.
    """
    enable_multiprocess(service, settings.data_dir)  # /metrics on the web app adds this process in
    topology = Topology(settings.broker_namespace)
    stop = threading.Event()
    relay = OutboxRelay(engine, outbox, EventPublisher(connect(settings.broker_url), topology))
    relay_thread = threading.Thread(
        target=relay.run, args=(stop, settings.outbox_poll_seconds), name="outbox-relay", daemon=True
    )
    consumer = None
    if handle is not None:
        consumer = EventConsumer(connect(settings.broker_url, heartbeat=30), topology, service, handle)

    def shutdown(signum, _frame):
        log.info("worker stopping", extra={"signal": signum})
        stop.set()
        if consumer is not None:
            consumer.should_stop = True

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    relay_thread.start()
    others = [threading.Thread(target=loop, args=(stop,), name=getattr(loop, "__name__", "loop"), daemon=True)
              for loop in background]
    for thread in others:
        thread.start()
    log.info("worker started", extra={"service": service, "consumes": handle is not None})
    if consumer is not None:
        consumer.run()
    else:
        stop.wait()
    for thread in (relay_thread, *others):
        thread.join(timeout=10)
    log.info("worker stopped")
