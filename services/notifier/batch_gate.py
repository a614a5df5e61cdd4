"""The gate and the settling for many sends in one transaction each (gate.py says what one send passes).

Every send still passes every check of `PendingSendGate.admit`, in the transaction that claims it
right before its provider call: taken only if still waiting (not cancelled), skipped if its
address opted out, weighed by the governor under its owner's advisory lock (PostgreSQL) with
everything already sent, under way or admitted earlier in the same batch counted, and claimed on
the send ledger. What changes is the number of statements: each check is one statement for
the whole batch instead of one per send.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, String, any_, bindparam, func, not_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier import ledger, pending, suppression
from services.notifier.composer import wordings_version_columns
from services.notifier.gate import PendingSendGate, local
from services.notifier.governor import ContactHistory
from services.notifier.sending import ALREADY_HANDLED, ReminderSender, sent_event
from services.notifier.tables import WAITING, outbox, pending_sends, send_ledger, suppressions
from shared import metrics
from shared.outbox import add_to_outbox

ps = pending_sends.c


@dataclass(frozen=True)
class Admission:
    """What the gate said: `held` None means claimed for its provider call now."""

    held: str | None  # cancelled | skipped | deferred | the ledger's status when it had the send already
    wording_seen: object = None  # composer.wordings_version in the claim transaction


def _keyset(postgres: bool, columns: tuple, names: tuple[str, str]):
    """`columns` among the pairs passed as parameters: two arrays on PostgreSQL, one list on SQLite.

    Either way a statement the same size for 1 or 1,000 sends, built once (see _Statements).
    """
    if postgres:
        return tuple_(*columns).in_(select(*(func.unnest(bindparam(name, type_=postgresql.ARRAY(String)))
                                             for name in names)).scalar_subquery())
    return tuple_(*columns).in_(bindparam(names[0], expanding=True))


def _pairs(postgres: bool, names: tuple[str, str], pairs: list[tuple[str, str]]) -> dict:
    if postgres:
        return {names[0]: [a for a, _ in pairs], names[1]: [b for _, b in pairs]}
    return {names[0]: pairs}


class _Statements:
    """The gate's and the settlement's statements, built once per dialect: only parameters change.

    PostgreSQL runs the hand-written statements below (`_PG_…`, pipelined); these serve SQLite
    (the embedded default of `make run` and the unit tests), where a transaction locks the file.
    """

    def __init__(self, postgres: bool):
        self.postgres = postgres
        keys = _keyset(postgres, (ps.notification_id, ps.channel), ("ids", "channels"))
        now = bindparam("now", type_=ps.updated_at.type)
        self.claim = (update(pending_sends).where(keys, ps.status.in_(WAITING), ps.due_at <= now)
                      .values(status="sending", updated_at=now).returning(ps.notification_id, ps.channel))
        s = suppressions.c
        self.opted_out = select(s.channel, s.address, s.source).where(
            _keyset(postgres, (s.channel, s.address), ("s_channels", "s_addresses")), s.suppressed.is_(True))
        owners = (ps.owner_id == any_(bindparam("owners", type_=postgresql.ARRAY(String))) if postgres
                  else ps.owner_id.in_(bindparam("owners", expanding=True)))
        self.history = select(ps.owner_id, ps.channel, ps.sent_at).where(
            owners, ps.status.in_(pending.COUNTED), ps.sent_at > bindparam("week_start", type_=ps.sent_at.type),
            not_(keys))
        self.community_today = select(func.count()).select_from(pending_sends).where(
            ps.community == bindparam("community"), ps.status.in_(pending.COUNTED),
            ps.sent_at >= bindparam("day_start", type_=ps.sent_at.type), not_(keys)).scalar_subquery()
        # The wordings' version and the first community's count in one statement.
        self.counts = select(*wordings_version_columns(), self.community_today)
        self.admit = update(pending_sends).where(keys).values(
            status="sending", reason=None, sent_at=now, attempts=ps.attempts + 1, updated_at=now)
        self.pending_sent = update(pending_sends).where(keys).values(status="sent", reason=None, updated_at=now)
        key = ((send_ledger.c.notification_id == bindparam("key_notification"))
               & (send_ledger.c.channel == bindparam("key_channel")))
        self.ledger_sent = update(send_ledger).where(key).values(
            status="sent", provider=bindparam("new_provider"), provider_message_id=bindparam("new_message_id"),
            updated_at=now)

    def keys(self, gates: Sequence[PendingSendGate]) -> dict:
        return _pairs(self.postgres, ("ids", "channels"), [(g.key.notification_id, g.key.channel) for g in gates])


_BUILT: dict[bool, _Statements] = {}


def _statements(connection: Connection) -> _Statements:
    postgres = connection.dialect.name == "postgresql"
    if postgres not in _BUILT:
        _BUILT[postgres] = _Statements(postgres)
    return _BUILT[postgres]


def admit_all(connection: Connection, gates: Sequence[PendingSendGate], own_transaction: bool = False
              ) -> list[Admission]:
    """Pass each send through its gate, in order, and claim the admitted ones on the ledger.

    `own_transaction` (PostgreSQL, a connection in autocommit: see `admit_committed`): the
    transaction is begun with the claim's statements and committed with the ledger claims.
    """
    if not gates:
        return []
    sql = _statements(connection)
    now = max(g.now for g in gates)
    if sql.postgres:
        claimed, opted_out, counts = _read_pipelined(connection, gates, now, begin=own_transaction)
        taken = [g for g in gates if (g.key.notification_id, g.key.channel) in claimed]
    else:
        claimed = {tuple(r) for r in connection.execute(sql.claim, {**sql.keys(gates), "now": now})}
        taken = [g for g in gates if (g.key.notification_id, g.key.channel) in claimed]
        opted_out = _opted_out(connection, sql, taken)
        counts = _Counts.read(connection, sql, taken, sorted({g.row.owner_id for g in taken}))
    taken_ids = {id(g) for g in taken}
    version = counts.wordings_seen

    admissions: dict[int, Admission] = {}
    admitted: list[PendingSendGate] = []
    for index, g in enumerate(gates):
        row = g.row
        if id(g) not in taken_ids:
            g.held = "cancelled"  # cancelled (payment, promise, opt-out...) or taken since it was picked
        elif (source := opted_out.get((row.channel, suppression.normalise(row.channel, row.address)))) is not None:
            pending.move(connection, g.key, "skipped", f"suppressed: opted out of {row.channel} ({source})", now)
            g.held = "skipped"
        else:
            verdict = g.governor.judge(row.channel, counts.history(g))
            if verdict.allowed:
                counts.add(g, now)
                admitted.append(g)
                continue
            later = g._later(verdict.wait_for)
            pending.move(connection, g.key, "deferred",
                         f"{verdict.reason}; next try {local(g.calendar, later)}", now, due_at=later)
            g.held = "deferred"
            metrics.record_deferral(verdict.reason)  # /metrics (ops)
        admissions[index] = Admission(g.held, version)
    had = _admit_and_claim(connection, sql, admitted, now, commit=own_transaction) if admitted else []
    if own_transaction and not admitted:
        connection.connection.driver_connection.commit()
    if had:
        position = {id(g): index for index, g in enumerate(gates)}
        with (connection.connection.driver_connection.transaction() if own_transaction else nullcontext()):
            for g in had:
                claim = ledger.claim(connection, g.key.notification_id, g.key.channel, g.row.case_id,
                                     g.row.owner_id)
                if not claim.granted:
                    g.settle(connection, claim.status, ALREADY_HANDLED)
                    g.held = claim.status
                    admissions[position[id(g)]] = Admission(claim.status, version)
    return [admissions.get(index, Admission(None, version)) for index in range(len(gates))]


def admit_committed(connection: Connection, gates: Sequence[PendingSendGate]) -> list[Admission]:
    """`admit_all`, committed before it returns; for the dispatcher's group commit (`autocommitted`).

    On PostgreSQL, with the connection in autocommit (see `autocommitted`), the transaction is
    begun in the same request as the claim's statements and committed in the same request as
    the ledger claims: two round trips instead of four (psycopg would begin with one of its own,
    and the commit would be another). Each waiting send waits for them, and under 32 busy
    sending threads every round trip is a wait for the GIL too. Anything else: `admit_all` in
    the caller's transaction.
    """
    raw = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or not raw.autocommit:
        return admit_all(connection, gates)
    try:
        return admit_all(connection, gates, own_transaction=True)
    except BaseException:
        if raw.pgconn.transaction_status != TransactionStatus.IDLE:
            # Every caller hears the failure and none calls its provider; a claim already committed
            # (the rare follow-up for a send the ledger had failed) is recovered as interrupted.
            raw.rollback()
        raise


def autocommitted(connection: Connection) -> None:
    """Prepare a group commit's connection for `admit_committed` (PostgreSQL; others unchanged)."""
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level="AUTOCOMMIT")


# PostgreSQL: the gate's reads go out together in a pipeline (one round trip), in this order, each
# statement with its own snapshot (READ COMMITTED): the claim (row locks in key order), then the
# owners' advisory locks, then the reads, which therefore see everything committed before the
# locks were granted. Rows this transaction claims still have `sent_at` NULL (a waiting row never
# has one), so the counts below cannot include them. The reads are one statement (one snapshot)
# and the admission with its ledger claim another: every statement in a pipeline is a wait on the
# socket, and under 32 busy sending threads every wait is followed by a wait for the GIL, on the
# path of every send.
_PG_BATCH = "SELECT unnest(%(ids)s::text[]), unnest(%(channels)s::text[])"
_PG_CLAIM = f"""
UPDATE pending_sends SET status = 'sending', updated_at = %(now)s
WHERE (notification_id, channel) IN (
    SELECT notification_id, channel FROM pending_sends WHERE (notification_id, channel) IN ({_PG_BATCH})
    ORDER BY notification_id, channel FOR UPDATE)
  AND status IN ('pending', 'deferred') AND due_at <= %(now)s
RETURNING notification_id, channel"""
_PG_LOCK_OWNERS = """
SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(o) AS h FROM unnest(%(owners)s::text[]) AS o) AS locks
ORDER BY h"""
# What the gate weighs, one row each: (kind, a, b, c, moment, number).
_PG_READS = """
SELECT 'opted_out', channel, address, source, NULL::timestamptz, NULL::bigint FROM suppressions
WHERE (channel, address) IN (SELECT unnest(%(s_channels)s::text[]), unnest(%(s_addresses)s::text[])) AND suppressed
UNION ALL
SELECT 'sent', owner_id, channel, notification_id, sent_at, NULL FROM pending_sends
WHERE owner_id = ANY(%(owners)s::text[]) AND status IN ('sending', 'sent', 'unknown') AND sent_at > %(week_start)s
UNION ALL
SELECT 'community', d.community, NULL, NULL, d.day_start, (
    SELECT count(*) FROM pending_sends p WHERE p.community = d.community
       AND p.status IN ('sending', 'sent', 'unknown') AND p.sent_at >= d.day_start)
FROM unnest(%(communities)s::text[], %(day_starts)s::timestamptz[]) AS d(community, day_start)
UNION ALL
SELECT 'wordings', NULL, NULL, NULL, max(updated_at), count(*) FROM template_overrides"""
# The same three, begun in one request (client-side binding: psycopg quotes every value; each
# statement of a request still takes its own snapshot).
_PG_BEGIN_AND_READ = ";".join(("BEGIN", _PG_CLAIM, _PG_LOCK_OWNERS, _PG_READS))
# A data-modifying WITH runs to completion whether or not the INSERT reads it.
_PG_ADMIT_AND_CLAIM = f"""
WITH admitted AS (
    UPDATE pending_sends SET status = 'sending', reason = NULL, sent_at = %(now)s, attempts = attempts + 1,
           updated_at = %(now)s
    WHERE (notification_id, channel) IN ({_PG_BATCH}))
INSERT INTO send_ledger (notification_id, channel, case_id, owner_id, status, attempts, claimed_at, updated_at)
SELECT unnest(%(ids)s::text[]), unnest(%(channels)s::text[]), unnest(%(cases)s::text[]),
       unnest(%(owners)s::text[]), 'claimed', 1, %(now)s, %(now)s
ON CONFLICT (notification_id, channel) DO NOTHING
RETURNING notification_id, channel"""
_PG_LEDGER_SENT = """
UPDATE send_ledger AS l SET status = 'sent', provider = v.provider, provider_message_id = v.message_id,
       updated_at = %(now)s
FROM (SELECT unnest(%(ids)s::text[]) AS id, unnest(%(channels)s::text[]) AS channel,
             unnest(%(providers)s::text[]) AS provider, unnest(%(message_ids)s::text[]) AS message_id) AS v
WHERE l.notification_id = v.id AND l.channel = v.channel"""
_PG_PENDING_SENT = f"""
UPDATE pending_sends SET status = 'sent', reason = NULL, updated_at = %(now)s
WHERE (notification_id, channel) IN ({_PG_BATCH})"""
assert pending.COUNTED == ("sending", "sent", "unknown") and WAITING == ("pending", "deferred")


def _read_pipelined(connection: Connection, gates: Sequence[PendingSendGate], now: datetime,
                    begin: bool = False):
    """Claim, lock and read for the whole group in one round trip (PostgreSQL).

    `begin`: the connection is in autocommit; BEGIN goes in the same request, ahead of them.
    """
    raw = connection.connection.driver_connection
    owners = sorted({g.row.owner_id for g in gates})
    addresses = sorted({(g.row.channel, suppression.normalise(g.row.channel, g.row.address))
                        for g in gates if g.row.address is not None})
    counts = _Counts(gates)
    keys = {"ids": [g.key.notification_id for g in gates], "channels": [g.key.channel for g in gates], "now": now}
    reading = {"owners": owners, "s_channels": [a for a, _ in addresses], "s_addresses": [b for _, b in addresses],
               "week_start": min(g.now for g in gates) - timedelta(days=7),
               "communities": [c for c, _ in counts.days], "day_starts": [d for _, d in counts.days]}
    if begin:
        _began, claim, _locks, reads = _requested(raw, _PG_BEGIN_AND_READ, {**keys, **reading})
    else:
        with raw.pipeline():
            claim = raw.execute(_PG_CLAIM, keys)
            raw.execute(_PG_LOCK_OWNERS, {"owners": owners})
            reads = raw.execute(_PG_READS, reading)
        claim, reads = claim.fetchall(), reads.fetchall()
    claimed = {tuple(r) for r in claim}
    opted_out: dict[tuple[str, str], str] = {}
    for kind, a, b, c, moment, number in reads:
        if kind == "sent":  # a: owner, b: channel, c: notification
            if (c, b) not in claimed:
                counts.sends[a].append((b, moment))
        elif kind == "opted_out":  # a: channel, b: address, c: source
            opted_out[(a, b)] = c
        elif kind == "community":  # a: community, moment: its day's start
            counts.community_today[(a, moment)] = number
        else:  # wordings: as composer.wordings_version reads them
            counts.wordings_seen = (number, moment)
    return claimed, opted_out, counts


def _requested(raw: psycopg.Connection, sql: str, params: dict) -> list[list[tuple]]:
    """Statements joined by `;` sent as one request (values bound by psycopg, quoted); each one's rows."""
    with psycopg.ClientCursor(raw) as cursor:
        cursor.execute(sql, params)
        results = []
        while True:
            results.append(cursor.fetchall() if cursor.description is not None else [])
            if not cursor.nextset():
                return results


def _opted_out(connection: Connection, sql: _Statements, gates: Sequence[PendingSendGate]
               ) -> dict[tuple[str, str], str]:
    addresses = sorted({(g.row.channel, suppression.normalise(g.row.channel, g.row.address))
                        for g in gates if g.row.address is not None})
    if not addresses:
        return {}
    rows = connection.execute(sql.opted_out, _pairs(sql.postgres, ("s_channels", "s_addresses"), addresses))
    return {(r.channel, r.address): r.source for r in rows}


def _admit_and_claim(connection: Connection, sql: _Statements, gates: Sequence[PendingSendGate],
                     now: datetime, commit: bool = False) -> list[PendingSendGate]:
    """Mark the admitted sends `sending` and claim them on the ledger; return those it already had.

    `commit` (PostgreSQL, begun by `_read_pipelined(begin=True)`): COMMIT goes in the same request.
    """
    if sql.postgres:
        params = {"ids": [g.key.notification_id for g in gates], "channels": [g.key.channel for g in gates],
                  "cases": [g.row.case_id for g in gates], "owners": [g.row.owner_id for g in gates], "now": now}
        raw = connection.connection.driver_connection
        if commit:
            rows, _committed = _requested(raw, _PG_ADMIT_AND_CLAIM + ";COMMIT", params)
        else:
            rows = raw.execute(_PG_ADMIT_AND_CLAIM, params).fetchall()
    else:
        connection.execute(sql.admit, {**sql.keys(gates), "now": now})
        rows = connection.execute(
            sqlite.insert(send_ledger).values([
                {"notification_id": g.key.notification_id, "channel": g.key.channel, "case_id": g.row.case_id,
                 "owner_id": g.row.owner_id, "status": "claimed", "attempts": 1, "claimed_at": now, "updated_at": now}
                for g in gates])
            .on_conflict_do_nothing(index_elements=["notification_id", "channel"])
            .returning(send_ledger.c.notification_id, send_ledger.c.channel))
    granted = {tuple(r) for r in rows}
    return [g for g in gates if (g.key.notification_id, g.key.channel) not in granted]


class _Counts:
    """The owners' and communities' counted sends (pending.COUNTED), as pending.history counts them."""

    def __init__(self, gates: Sequence[PendingSendGate]):
        self.sends: dict[str, list[tuple[str, datetime]]] = defaultdict(list)  # owner -> (channel, sent_at)
        self.community_today: Counter = Counter()  # (community, day start) -> count
        self.wordings_seen: object = None  # composer.wordings_version, read in the same transaction
        self._day_starts = {id(g): g.calendar.day_start(g.calendar.local_day(g.now)) for g in gates}
        self.days = sorted({(g.row.community, self._day_starts[id(g)]) for g in gates
                            if g.row.community is not None})

    @classmethod
    def read(cls, connection: Connection, sql: _Statements, gates: Sequence[PendingSendGate],
             owners: list[str]) -> _Counts:
        counts = cls(gates)
        keys = sql.keys(gates)
        if gates:
            week_start = min(g.now for g in gates) - timedelta(days=7)
            for r in connection.execute(sql.history, {**keys, "owners": owners, "week_start": week_start}):
                counts.sends[r.owner_id].append((r.channel, r.sent_at))
        first = counts.days[0] if counts.days else (None, datetime.now(UTC))
        count, latest, community_today = connection.execute(
            sql.counts, {**keys, "community": first[0], "day_start": first[1]}).one()
        counts.wordings_seen = (count, latest)
        if counts.days:
            counts.community_today[first] = community_today
        for community, day_start in counts.days[1:]:
            counts.community_today[(community, day_start)] = connection.execute(
                select(sql.community_today), {**keys, "community": community, "day_start": day_start}).scalar_one()
        return counts

    def history(self, g: PendingSendGate) -> ContactHistory:
        day_start, week_start = self._day_starts[id(g)], g.now - timedelta(days=7)
        window_start = g.window.opens if g.window is not None else g.now
        today, week, window = Counter(), Counter(), Counter()
        for channel, sent_at in self.sends[g.row.owner_id]:
            if sent_at > week_start:
                week[channel] += 1
                today[channel] += sent_at >= day_start
                window[channel] += sent_at >= window_start
        community_today = 0
        if g.row.community is not None:
            community_today = self.community_today[(g.row.community, day_start)]
        return ContactHistory(today=dict(today), week=dict(week),
                              this_window=dict(window) if g.window is not None else {},
                              community_today=community_today)

    def add(self, g: PendingSendGate, now: datetime) -> None:
        """Count a send admitted earlier in this batch, as the database would once it is `sending`."""
        self.sends[g.row.owner_id].append((g.row.channel, now))
        if g.row.community is not None:
            for (community, day_start) in list(self.community_today):
                if community == g.row.community and now >= day_start:
                    self.community_today[(community, day_start)] += 1


@dataclass(frozen=True)
class Settlement:
    """One send's outcome, as ReminderSender.call hands it to `finish`."""

    gate: PendingSendGate
    notification_id: str
    channel: str
    status: str
    provider: str | None
    p: dict | None
    fields: dict


def settle_all(connection: Connection, sender: ReminderSender, settlements: Sequence[Settlement]) -> list[None]:
    """Record many outcomes in one transaction: the sent ones in three statements, the rest one by one."""
    sent = [s for s in settlements if s.status == "sent"]
    if sent:
        sql = _statements(connection)
        now = max(s.gate.now for s in sent)
        if sql.postgres:
            raw = connection.connection.driver_connection
            ids, channels = [s.notification_id for s in sent], [s.channel for s in sent]
            with raw.pipeline():  # both statements in one round trip
                raw.execute(_PG_LEDGER_SENT, {"ids": ids, "channels": channels, "now": now,
                                              "providers": [s.provider for s in sent],
                                              "message_ids": [s.fields["provider_message_id"] for s in sent]})
                raw.execute(_PG_PENDING_SENT, {"ids": ids, "channels": channels, "now": now})
        else:
            connection.execute(sql.ledger_sent, [
                {"key_notification": s.notification_id, "key_channel": s.channel, "new_provider": s.provider,
                 "new_message_id": s.fields["provider_message_id"], "now": now} for s in sent])
            connection.execute(sql.pending_sent, {**sql.keys([s.gate for s in sent]), "now": now})
        add_to_outbox(connection, outbox, *(sent_event(s.notification_id, s.channel, s.p, s.provider,
                                                       s.fields["provider_message_id"]) for s in sent))
    for s in settlements:
        if s.status != "sent":
            sender.settle(connection, s.gate, s.notification_id, s.channel, s.status, s.provider, s.p, **s.fields)
    return [None] * len(settlements)
