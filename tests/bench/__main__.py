"""Run every scenario for a few rounds on a throwaway vhost and database; print rates and ratios."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack

import amqp
import kombu
import sqlalchemy
from kombu import Connection
from sqlalchemy import Engine, MetaData, text

from shared.db import make_engine
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.topology import Topology
from tests import support
from tests.bench import consume_path, gateway, imports, notifier, publish_path, raw, sweep
from tests.bench.common import (
    BenchError,
    Measurement,
    delivery_reported,
    empty,
    reminder_requested,
    setting,
)
from tests.bench.report import table


def run(amqp_url: str, database_url: str, total: int, rounds: int, stage_batch: int,
        results: list[Measurement]) -> None:
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    reports = consume_path.delivery_reports_table(metadata)
    engine = make_engine(database_url)
    try:
        metadata.create_all(engine)
        describe(amqp_url, engine, total, rounds)
        for number in range(1, rounds + 1):
            # Fresh names per round: every queue starts empty, so rounds do not see each other.
            topology = Topology(f"bench.r{number}.")
            queue = raw.raw_queue(topology.namespace)
            reminders = [reminder_requested(n) for n in range(total)]
            # Each baseline runs right before the path compared with it, under the same load.
            results.append(raw.publish_raw(amqp_url, queue, reminders))
            # One event per transaction is a request changing one case; a batch is the daily sweep.
            empty(engine, outbox)
            results.append(publish_path.stage(engine, outbox, reminders, 1))
            empty(engine, outbox)
            results.append(publish_path.stage(engine, outbox, reminders, stage_batch))
            results.append(publish_path.relay(amqp_url, engine, outbox, topology, total))
            results.append(raw.consume_raw(amqp_url, queue, total))
            empty(engine, inbox, reports)
            replies = [delivery_reported(n) for n in range(total)]
            results.append(consume_path.consume(amqp_url, engine, inbox, reports, topology, replies))
            print(f"bench: round {number} of {rounds} done", flush=True)
    finally:
        engine.dispose()


def describe(amqp_url: str, engine: Engine, total: int, rounds: int) -> None:
    with Connection(amqp_url, connect_timeout=5) as connection:
        connection.connect()
        rabbit = connection.connection.server_properties.get("version", "?")
    with engine.connect() as db:
        postgres = db.scalar(text("SHOW server_version"))
    print(f"bench: {total} messages per scenario, {rounds} rounds; RabbitMQ {rabbit}, "
          f"PostgreSQL {postgres}, kombu {kombu.__version__}, py-amqp {amqp.__version__}, "
          f"SQLAlchemy {sqlalchemy.__version__}, {os.cpu_count()} CPUs", flush=True)


def main() -> int:
    try:
        total = setting("BENCH_MESSAGES", 5000)
        rounds = setting("BENCH_ROUNDS", 3)
        # A sweep commits its cases in chunks; this many staged events share one transaction.
        stage_batch = setting("BENCH_STAGE_BATCH", 100)
        setting("BENCH_SCENARIO_SECONDS", 60)  # read by each Deadline; fail before any set-up
        sweep_cases = setting("BENCH_SWEEP_CASES", 200_000)
        sweep_communities = setting("BENCH_SWEEP_COMMUNITIES", 100)
        setting("BENCH_NOTIFIER_SENDS", 2000)  # read by notifier.run; fail before any set-up
        for name, default in (("BENCH_WEBHOOK_SECONDS", 10), ("BENCH_WEBHOOK_ROUNDS", 2),
                              ("BENCH_REPLY_OWNERS", 200), ("BENCH_REPLY_RATE", 20)):
            setting(name, default)  # read by gateway.run*; fail before any set-up
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
            run(amqp_url, database_url, total, rounds, stage_batch, results)
            imports.run(results)  # its own throwaway cases database
            # The daily sweep over a large property group; compared with the last round's raw publish.
            results.extend(sweep.run(amqp_url, sweep_cases, sweep_communities))
            notifier.run(results)  # once, its own throwaway notifier database and provider stand-ins
            gateway.run(results, amqp_url)  # wrk against gunicorn: ours and a bare Flask handler
            gateway.run_reply_latency(results, amqp_url)  # the whole system as processes
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
