"""Run every scenario once on a throwaway vhost and database, and print rates and ratios."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack

import amqp
import kombu
import sqlalchemy
from kombu import Connection
from sqlalchemy import MetaData, text

from shared.db import make_engine
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.topology import Topology
from tests import support
from tests.bench import consume_path, publish_path, raw
from tests.bench.common import BenchError, Measurement, delivery_reported, message_count, reminder_requested

# A sweep commits its cases in chunks; this many staged events share one transaction.
STAGE_BATCH = int(os.environ.get("BENCH_STAGE_BATCH", "100"))


def run(amqp_url: str, database_url: str, total: int, results: list[Measurement]) -> None:
    topology = Topology("bench.")
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    reports = consume_path.delivery_reports_table(metadata)
    engine = make_engine(database_url)
    try:
        metadata.create_all(engine)
        describe(amqp_url, engine, total)
        reminders = [reminder_requested(n) for n in range(total)]
        queue = raw.raw_queue(topology.namespace)
        # Each baseline runs right before the path compared with it, so both see the same load.
        results.append(raw.publish_raw(amqp_url, queue, reminders))
        # One event per transaction is a request changing one case; a batch is the daily sweep.
        results.append(publish_path.stage(engine, outbox, reminders, 1))
        publish_path.empty(engine, outbox)
        results.append(publish_path.stage(engine, outbox, reminders, STAGE_BATCH))
        results.append(publish_path.relay(amqp_url, engine, outbox, topology, total))
        results.append(raw.consume_raw(amqp_url, queue, total))
        reports_in = [delivery_reported(n) for n in range(total)]
        results.append(consume_path.consume(amqp_url, engine, inbox, reports, topology, reports_in))
    finally:
        engine.dispose()


def describe(amqp_url: str, engine, total: int) -> None:
    with Connection(amqp_url, connect_timeout=5) as connection:
        connection.connect()
        rabbit = connection.connection.server_properties.get("version", "?")
    with engine.connect() as db:
        postgres = db.scalar(text("SHOW server_version"))
    print(f"bench: {total} messages per scenario; RabbitMQ {rabbit}, PostgreSQL {postgres}, "
          f"kombu {kombu.__version__}, py-amqp {amqp.__version__}, SQLAlchemy {sqlalchemy.__version__}, "
          f"{os.cpu_count()} CPUs", flush=True)


def table(results: list[Measurement]) -> str:
    by_key = {m.key: m for m in results}
    rows = [("", "scenario", "messages", "seconds", "rate (msg/s)", "ratio to raw")]
    for m in results:
        base = by_key.get(m.baseline) if m.baseline else m
        ratio = f"{m.rate / base.rate:.2f} x {base.key}" if base else "n/a"
        rows.append((m.key, m.scenario, str(m.messages), f"{m.seconds:.2f}", f"{m.rate:,.0f}", ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append(" | ".join(cells))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    try:
        total = message_count()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    for problem in (support.rabbit_reachable(), support.postgres_reachable()):
        if problem:
            print(f"bench: cannot run: {problem}", file=sys.stderr)
            return 2
    results: list[Measurement] = []
    failure = None
    try:
        with ExitStack() as stack:
            amqp_url = stack.enter_context(support.rabbit_vhost())
            database_url = stack.enter_context(support.postgres_database())
            run(amqp_url, database_url, total, results)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        failure = f"cannot manage a throwaway RabbitMQ vhost with rabbitmqctl: {exc}"
    except BenchError as exc:
        failure = str(exc)
    except KeyboardInterrupt:
        failure = "interrupted"
    except Exception as exc:  # the table of what did finish is still worth printing
        failure = f"{type(exc).__name__}: {exc}"
    if results:
        print(table(results))
    if failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
