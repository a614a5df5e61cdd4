"""Rate limits on reply-form posts, per client IP and per link, counted in the gateway database.

Fixed windows: each post adds one to its key's counter for the current window; past the limit
the post is refused with 429 until the window turns. Counting in the database (not a worker's
memory) keeps the limit whole across gunicorn workers and restarts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from services.gateway.tables import reply_form_attempts

FORGET_AFTER = timedelta(days=2)  # longer than any window


@dataclass(frozen=True)
class Limit:
    posts: int
    window: timedelta


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def count_attempt(engine: Engine, key: str, limit: Limit, now: datetime | None = None) -> int | None:
    """Count one post for `key`; None if it is within the limit, else seconds until it may retry."""
    now = now or datetime.now(UTC)
    start = _window_start(now, limit.window)
    with engine.begin() as connection:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        statement = insert(reply_form_attempts).values(key=key[:100], window_start=start, count=1)
        statement = statement.on_conflict_do_update(
            index_elements=["key", "window_start"],
            set_={"count": reply_form_attempts.c.count + 1},
        ).returning(reply_form_attempts.c.count)
        count = connection.execute(statement).scalar_one()
        if count == 1:  # the first post of a window clears out counters long past any window
            connection.execute(delete(reply_form_attempts).where(
                reply_form_attempts.c.window_start < now - FORGET_AFTER))
    if count <= limit.posts:
        return None
    return max(1, int((start + limit.window - now).total_seconds()))
