"""Signing in with a username and password, and slowing down whoever guesses passwords."""
from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Connection, select
from werkzeug.security import check_password_hash, generate_password_hash

from services.cases.people.staff_accounts import communities_of, normalise_username
from services.cases.tables import staff


@dataclass(frozen=True)
class SignedIn:
    staff_id: str
    role: str
    communities: tuple[str, ...]


@cache
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe())


def sign_in(connection: Connection, username: str, password: str) -> SignedIn | None:
    """Who these credentials belong to, or None (unknown, wrong password or inactive alike)."""
    row = connection.execute(
        select(staff.c.id, staff.c.role, staff.c.password_hash, staff.c.active)
        .where(staff.c.username == normalise_username(username))
    ).first()
    # An unknown username costs a hash check too, so timing does not tell which usernames exist.
    matches = check_password_hash(row.password_hash if row else _decoy_hash(), password)
    if row is None or not matches or not row.active:
        return None
    return SignedIn(row.id, row.role, communities_of(connection, row.id))


class FailedSignIns:
    """Failed sign-ins per username, in this process, to slow down password guessing.

    After `limit` failures within `window` seconds a username is locked (even for the right
    password) until its oldest failure ages out; a success clears its count. Unknown usernames
    count too, so a lock says nothing about who exists. The count lives in the process: each
    gunicorn worker keeps its own (the real limit is `limit` x workers) and a restart forgets it.
    That stops an online guesser; a hard global limit would need a shared store.
    """

    def __init__(self, limit: int = 5, window: float = 900.0, clock=time.monotonic, max_usernames: int = 10_000):
        self.limit, self.window, self.clock, self.max_usernames = limit, window, clock, max_usernames
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def locked_for(self, username: str) -> float:
        """Seconds until `username` may try again; 0 when it may now."""
        with self._lock:
            recent = self._recent(username)
            return max(0.0, recent[0] + self.window - self.clock()) if len(recent) >= self.limit else 0.0

    def failed(self, username: str) -> None:
        with self._lock:
            self._failures[username] = self._recent(username)
            self._failures[username].append(self.clock())
            if len(self._failures) > self.max_usernames:  # bound the memory a spray of names can take
                for name in [name for name in self._failures if not self._recent(name)]:
                    del self._failures[name]
            while len(self._failures) > self.max_usernames:
                self._failures.pop(next(iter(self._failures)))

    def __len__(self) -> int:
        """How many usernames are being counted."""
        return len(self._failures)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)

    def _recent(self, username: str) -> deque[float]:
        recent = self._failures.get(username, deque())
        while recent and recent[0] <= self.clock() - self.window:
            recent.popleft()
        return recent
