"""`make run`'s embedded broker: processes starting together all declare the whole topology, and
none of them dies of the race to create a queue's row first."""
from __future__ import annotations

import multiprocessing

import pytest
from kombu import Queue

from shared.messaging import connect
from shared.topology import Topology

PROCESSES = 4
ROUNDS = 3


def _declare(url: str, go, failures) -> None:
    connection = connect(url)
    try:
        go.wait(30)
        Topology("race.").declare(connection)
    except Exception as exc:  # reported to the test, which names it
        failures.put(f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        connection.release()


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_processes_declaring_the_topology_at_once_all_start(tmp_path, round_number):
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    with connect(url) as first:  # the broker's tables exist (made by whoever came first), its queues not yet
        Queue("someone-else", channel=first.default_channel).declare()
    context = multiprocessing.get_context("fork")
    go, failures = context.Event(), context.Queue()
    workers = [context.Process(target=_declare, args=(url, go, failures)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join(60)

    problems = []
    while not failures.empty():
        problems.append(failures.get())
    assert problems == []
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
