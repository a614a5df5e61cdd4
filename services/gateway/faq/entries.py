"""FAQ entries as staff keep them: question variants in zh-CN and en, an answer in each language.

The answer rule: an entry needs at least one answer; an owner whose language has none gets the
other one (a Chinese answer to an English question beats no answer at all).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select, update

from services.gateway.tables import faq_entries


@dataclass(frozen=True)
class FaqEntry:
    id: str
    questions_zh: tuple[str, ...]
    questions_en: tuple[str, ...]
    answer_zh: str | None
    answer_en: str | None

    @property
    def questions(self) -> tuple[str, ...]:
        return self.questions_zh + self.questions_en

    def answer_in(self, locale: str) -> tuple[str, str]:
        """The answer for an owner who reads `locale`, and the locale it is actually in."""
        preferred, other = ("en", "zh-CN") if locale == "en" else ("zh-CN", "en")
        for language in (preferred, other):
            text = self.answer_en if language == "en" else self.answer_zh
            if text:
                return text, language
        raise ValueError(f"FAQ entry {self.id} has no answer")


def _entry(row) -> FaqEntry:
    return FaqEntry(row.id, tuple(row.questions_zh), tuple(row.questions_en), row.answer_zh, row.answer_en)


def all_entries(connection: Connection) -> list[FaqEntry]:
    rows = connection.execute(select(faq_entries).order_by(faq_entries.c.created_at, faq_entries.c.id))
    return [_entry(row) for row in rows]


class EntriesCache:
    """Every entry, read again at most every `seconds` in each process.

    An owner's question would otherwise cost a query for the whole FAQ on the webhook's hot path.
    An edit made through this process's API is seen at once (`forget`); one made through another
    gunicorn worker reaches this one within `seconds` (FAQ_CACHE_SECONDS, default 10).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: list[FaqEntry] | None = None
        self._until = 0.0

    def entries(self, connection: Connection) -> list[FaqEntry]:
        with self._lock:
            if self._entries is not None and self.clock() < self._until:
                return self._entries
        fresh = all_entries(connection)
        with self._lock:
            self._entries, self._until = fresh, self.clock() + self.seconds
        return fresh

    def forget(self) -> None:
        with self._lock:
            self._entries = None


def find_entry(connection: Connection, entry_id: str) -> FaqEntry | None:
    row = connection.execute(select(faq_entries).where(faq_entries.c.id == entry_id)).first()
    return _entry(row) if row else None


def add_entry(connection: Connection, fields: dict, staff: str) -> str:
    entry_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    connection.execute(insert(faq_entries).values(id=entry_id, **fields, updated_by=staff, created_at=now,
                                                  updated_at=now))
    return entry_id


def change_entry(connection: Connection, entry_id: str, fields: dict, staff: str) -> bool:
    """Replace the entry's questions and answers; False if there is no such entry."""
    result = connection.execute(update(faq_entries).where(faq_entries.c.id == entry_id)
                                .values(**fields, updated_by=staff, updated_at=datetime.now(UTC)))
    return result.rowcount == 1


def remove_entry(connection: Connection, entry_id: str) -> bool:
    return connection.execute(delete(faq_entries).where(faq_entries.c.id == entry_id)).rowcount == 1
