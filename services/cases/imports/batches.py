"""Bounded statements: ids per IN (...) list, and parameter sets per executemany."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from sqlalchemy import Connection

CHUNK = 1000  # ids per IN (...) list and cases per batch of events: bounded statements and memory
WRITE_CHUNK = 10_000  # parameter sets per executemany


def chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def execute_many(connection: Connection, statement, parameters: Iterable[dict]) -> None:
    """executemany in slices: a 100,000-row import never holds all its parameter sets at once."""
    parameters = iter(parameters)
    while batch := list(itertools.islice(parameters, WRITE_CHUNK)):
        connection.execute(statement, batch)
