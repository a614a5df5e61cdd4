"""Wake the outbox relay the moment a transaction stages events, instead of at its next poll.

On PostgreSQL each service's `outbox` table has a statement trigger (added by a migration in each
service) that does `pg_notify('outbox_staged', '')`; the notification is delivered when the staging
transaction commits, and several in one transaction arrive as one. The relay LISTENs on a
connection of its own and waits for a notification or its poll interval, whichever comes first,
so a lost notification (or a listener connection that dropped) only costs one poll interval.
On SQLite (the embedded defaults) the relay simply polls.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time

from sqlalchemy import Engine

log = logging.getLogger(__name__)
CHANNEL = "outbox_staged"
STOP_CHECK_SECONDS = 0.5
RECONNECT_SECONDS = 5.0  # after the listener's connection fails, poll this long before trying again


class Wakeups:
    """Wait for `outbox_staged` (PostgreSQL) or just for the poll interval (anything else)."""

    def __init__(self, engine: Engine, clock=time.monotonic):
        self._conninfo = None
        if engine.dialect.name == "postgresql":
            self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection = None
        self._clock = clock
        self._retry_at = 0.0

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def wait(self, stop: threading.Event, seconds: float) -> None:
        """Return when events were staged, `seconds` passed, or `stop` was set."""
        if self._conninfo is None or not self._listen():
            stop.wait(seconds)
            return
        deadline = self._clock() + seconds
        try:
            while not stop.is_set():
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return
                # In slices, so that a stop is noticed within half a second however long the poll.
                for _ in self._connection.notifies(timeout=min(remaining, STOP_CHECK_SECONDS), stop_after=1):
                    return
        except Exception:
            log.warning("outbox listener lost its connection; polling until it is back")
            self.close()
            self._retry_at = self._clock() + RECONNECT_SECONDS
            stop.wait(seconds)

    def _listen(self) -> bool:
        if self._connection is not None:
            return True
        if self._clock() < self._retry_at:
            return False
        import psycopg

        try:
            self._connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            self._connection.execute(f"LISTEN {CHANNEL}")
        except Exception:
            log.warning("outbox listener could not connect; polling")
            self.close()
            self._retry_at = self._clock() + RECONNECT_SECONDS
            return False
        return True

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                self._connection.close()
            self._connection = None


# For the services' migrations (PostgreSQL only): the trigger that wakes the relay.
CREATE_TRIGGER = (
    "CREATE OR REPLACE FUNCTION outbox_staged() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN PERFORM pg_notify('outbox_staged', ''); RETURN NULL; END $$",
    "CREATE TRIGGER outbox_staged AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_staged()",
)
DROP_TRIGGER = (
    "DROP TRIGGER IF EXISTS outbox_staged ON outbox",
    "DROP FUNCTION IF EXISTS outbox_staged()",
)
