"""Group commit: the sends that reach a transaction at the same moment share it.

A dispatch worker hands its work (admit this send; settle that one) to a `GroupCommit` and waits.
Whoever arrives while a transaction is running goes into the next one, so each send is still
decided in a transaction that starts after it asked, right before its own provider call, but
32 workers cost a handful of transactions a second instead of one each per send.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot:
    """One caller's item; `wake` is set when its item is decided or when it is made a leader."""

    __slots__ = ("item", "done", "result", "error", "lead", "wake")

    def __init__(self, item):
        self.item = item
        self.done = False
        self.result = None
        self.error: BaseException | None = None
        self.lead = False
        self.wake = threading.Event()


class GroupCommit(Generic[Item, Result]):
    """Run `work(connection, items) -> results` over whatever items are waiting, one transaction at a time.

    No thread of its own: a caller that finds fewer than `lanes` transactions running becomes a
    leader, runs batches until its own item is done, then hands over to the next one waiting.
    Each waiting caller is woken only for its own news (its item decided, or its turn to lead):
    with 32 senders waiting, waking them all after every transaction would have them all
    queue for the GIL just when the next leader needs it.
    """

    def __init__(self, engine: Engine, work: Callable[[Connection, list[Item]], list[Result]],
                 largest: int = 1000, lanes: int = 1, prepare: Callable[[Connection], None] | None = None):
        self.engine = engine
        self.work = work
        self.prepare = prepare  # called on each connection it opens, before its first transaction
        self.largest = largest
        self.lanes = lanes  # transactions that may run at once (each on its own connection)
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._leaders = 0
        # Connections kept between transactions (one per lane) until release(): no checkout and
        # pre-ping round trip per transaction while sends keep coming.
        self._idle: list[Connection] = []

    def release(self) -> None:
        """Give the kept connections back to the pool (the dispatcher does at the end of each tick)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def submit(self, item: Item) -> Result:
        slot = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            if self._leaders < self.lanes:
                self._leaders += 1
                slot.lead = True
        while not slot.lead:  # until its item is decided, or it is its turn to lead
            slot.wake.wait()
            with self._lock:
                slot.wake.clear()
                if not slot.lead and slot.done:
                    return self._outcome(slot)
        try:
            while True:
                with self._lock:
                    slot.wake.clear()
                    if slot.done:
                        break
                    batch, self._waiting = self._waiting[:self.largest], self._waiting[self.largest:]
                if batch:
                    self._run(batch)
                else:
                    slot.wake.wait()  # its item is in another leader's transaction
        finally:
            with self._lock:  # the first caller still waiting (not leading already) leads next
                following = next((s for s in self._waiting if not s.lead), None)
                if following is None:
                    self._leaders -= 1
                else:
                    following.lead = True
                    following.wake.set()
        return self._outcome(slot)

    @staticmethod
    def _outcome(slot: _Slot):
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _run(self, batch: list[_Slot]) -> None:
        if not batch:
            return
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        results = error = None
        try:
            if connection is None:
                connection = self.engine.connect()
                if self.prepare is not None:
                    self.prepare(connection)
            with connection.begin():
                results = self.work(connection, [s.item for s in batch])
        except BaseException as exc:  # every send of the batch hears it; none was decided
            error = exc
        _keep_or_close(connection, self._idle, self._lock)
        with self._lock:
            if error is None:
                for s, result in zip(batch, results, strict=True):
                    s.result = result
            for s in batch:
                s.error, s.done = error, True
                s.wake.set()


def _keep_or_close(connection: Connection | None, idle: list, lock) -> None:
    if connection is None:
        return
    if connection.invalidated or connection.closed:
        connection.close()
        return
    with lock:
        idle.append(connection)


class BackgroundCommit(Generic[Item]):
    """Commit items handed over with `put` in batches on a thread of its own; `close` waits for all of them.

    For what nobody needs to wait for: a send's settlement once its provider answered. If a batch
    cannot be committed its sends stay `claimed` on the ledger, which is what a crash leaves, and
    the dispatcher's recovery marks them unknown (never resent blindly).
    """

    def __init__(self, engine: Engine, work: Callable[[Connection, list[Item]], object], largest: int = 1000,
                 name: str = "commit"):
        self.engine = engine
        self.work = work
        self.largest = largest
        self.failures = 0  # batches that could not be committed
        self._changed = threading.Condition()
        self._waiting: list = []
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Item) -> None:
        with self._changed:
            self._waiting.append(item)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()

    def _loop(self) -> None:
        connection = None  # kept from batch to batch, returned when closing
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._waiting or self._closing)
                    if not self._waiting:
                        return
                    batch, self._waiting = self._waiting[:self.largest], self._waiting[self.largest:]
                try:
                    if connection is None or connection.invalidated or connection.closed:
                        connection = self.engine.connect()
                    with connection.begin():
                        self.work(connection, batch)
                except Exception:
                    self.failures += 1
                    log.exception("could not record %d settled sends; they stay claimed until recovered",
                                  len(batch))
        finally:
            if connection is not None:
                connection.close()
