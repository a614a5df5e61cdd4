"""The webhook answers questions from each worker's copy of the FAQ: fresh within its time limit."""
from __future__ import annotations

from sqlalchemy import create_engine

from services.gateway.faq.entries import EntriesCache, add_entry
from services.gateway.tables import metadata

FIELDS = {"questions_zh": ["怎么交物业费"], "questions_en": [], "answer_zh": "到服务中心或网上缴纳。",
          "answer_en": None}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def engine():
    made = create_engine("sqlite://")
    metadata.create_all(made)
    return made


def test_entries_are_read_once_within_the_time_limit_then_again():
    db, clock = engine(), Clock()
    cache = EntriesCache(10, clock)
    with db.begin() as connection:
        assert cache.entries(connection) == []
        add_entry(connection, FIELDS, "manager")
        assert cache.entries(connection) == []  # still the copy read at 100 s
        clock.now = 110.0
        assert [e.answer_zh for e in cache.entries(connection)] == ["到服务中心或网上缴纳。"]


def test_forget_makes_the_next_read_fresh():
    db, clock = engine(), Clock()
    cache = EntriesCache(10, clock)
    with db.begin() as connection:
        cache.entries(connection)
        add_entry(connection, FIELDS, "manager")
        cache.forget()
        assert len(cache.entries(connection)) == 1


def test_zero_seconds_reads_every_time():
    db = engine()
    cache = EntriesCache(0, Clock())
    with db.begin() as connection:
        cache.entries(connection)
        add_entry(connection, FIELDS, "manager")
        assert len(cache.entries(connection)) == 1
