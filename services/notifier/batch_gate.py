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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, String, any_, bindparam, func, not_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier import ledger, pending, suppression
from services.notifier.composer import wordings_version
from services.notifier.gate import PendingSendGate, local
from services.notifier.governor import ContactHistory
from services.notifier.sending import ALREADY_HANDLED, ReminderSender, sent_event
from services.notifier.tables import WAITING, outbox, pending_sends, send_ledger, suppressions
from shared.outbox import add_to_outbox

ps = pending_sends.c


@dataclass(frozen=True)
class Admission:
    """What the gate said: `held` None means claimed for its provider call now."""

    held: str | None  # cancelled | skipped | deferred | the ledger's status when it had the send already
    wording_seen: object = None  # composer.wordings_version in the claim transaction


def _keys(connection: Connection, gates: Sequence[PendingSendGate]):
    """(notification_id, channel) among the gates' keys.

    On PostgreSQL as two arrays: a statement the same size for 1 or 1,000 sends (no parameter
    list to render and parse each time).
    """
    if connection.dialect.name == "postgresql":
        keys = select(func.unnest(_array([g.key.notification_id for g in gates])),
                      func.unnest(_array([g.key.channel for g in gates]))).scalar_subquery()
        return tuple_(ps.notification_id, ps.channel).in_(keys)
    return tuple_(ps.notification_id, ps.channel).in_([(g.key.notification_id, g.key.channel) for g in gates])


def _among(connection: Connection, column, values: list):
    if connection.dialect.name == "postgresql":
        return column == any_(_array(values))
    return column.in_(values)


def _array(values: list):
    return bindparam(None, values, type_=postgresql.ARRAY(String))


def admit_all(connection: Connection, gates: Sequence[PendingSendGate]) -> list[Admission]:
    """Pass each send through its gate, in order, and claim the admitted ones on the ledger."""
    if not gates:
        return []
    now = max(g.now for g in gates)
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # Row locks in one order, so two dispatchers claiming overlapping batches never deadlock.
        connection.execute(select(ps.notification_id).where(_keys(connection, gates))
                           .order_by(ps.notification_id, ps.channel).with_for_update())
    claimed = {tuple(r) for r in connection.execute(
        update(pending_sends).where(_keys(connection, gates), ps.status.in_(WAITING), ps.due_at <= now)
        .values(status="sending", updated_at=now).returning(ps.notification_id, ps.channel))}
    taken = [g for g in gates if (g.key.notification_id, g.key.channel) in claimed]
    taken_ids = {id(g) for g in taken}
    opted_out = _opted_out(connection, taken)
    owners = sorted({g.row.owner_id for g in taken})
    if postgres and owners:
        # Serialise governor decisions per owner across dispatchers, as pending.lock_owner does.
        connection.execute(text(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(o) AS h "
            "FROM unnest(CAST(:owners AS text[])) AS o) AS locks ORDER BY h"), {"owners": owners})
    counts = _Counts(connection, taken, owners)
    version = wordings_version(connection)

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
            verdict = g.governor.judge(row.channel, counts.history(g, now))
            if verdict.allowed:
                counts.add(g, now)
                admitted.append(g)
                continue
            later = g._later(verdict.wait_for)
            pending.move(connection, g.key, "deferred",
                         f"{verdict.reason}; next try {local(g.calendar, later)}", now, due_at=later)
            g.held = "deferred"
        admissions[index] = Admission(g.held, version)
    if admitted:
        connection.execute(update(pending_sends).where(_keys(connection, admitted)).values(
            status="sending", reason=None, sent_at=now, attempts=ps.attempts + 1, updated_at=now))
        position = {id(g): index for index, g in enumerate(gates)}
        for g in _not_granted(connection, admitted, now):
            claim = ledger.claim(connection, g.key.notification_id, g.key.channel, g.row.case_id, g.row.owner_id)
            if not claim.granted:
                g.settle(connection, claim.status, ALREADY_HANDLED)
                g.held = claim.status
                admissions[position[id(g)]] = Admission(claim.status, version)
    return [admissions.get(index, Admission(None, version)) for index in range(len(gates))]


def _opted_out(connection: Connection, gates: Sequence[PendingSendGate]) -> dict[tuple[str, str], str]:
    addresses = {(g.row.channel, suppression.normalise(g.row.channel, g.row.address))
                 for g in gates if g.row.address is not None}
    if not addresses:
        return {}
    s = suppressions.c
    addresses = sorted(addresses)
    if connection.dialect.name == "postgresql":
        among = tuple_(s.channel, s.address).in_(select(func.unnest(_array([a[0] for a in addresses])),
                                                        func.unnest(_array([a[1] for a in addresses]))
                                                        ).scalar_subquery())
    else:
        among = tuple_(s.channel, s.address).in_(addresses)
    rows = connection.execute(select(s.channel, s.address, s.source).where(among, s.suppressed.is_(True)))
    return {(r.channel, r.address): r.source for r in rows}


def _not_granted(connection: Connection, gates: Sequence[PendingSendGate], now: datetime) -> list[PendingSendGate]:
    """Claim every admitted send on the ledger in one statement; return those it already had."""
    columns = ["notification_id", "channel", "case_id", "owner_id"]
    values = [[g.key.notification_id, g.key.channel, g.row.case_id, g.row.owner_id] for g in gates]
    if connection.dialect.name == "postgresql":
        rows = select(*(func.unnest(_array([v[i] for v in values])) for i in range(len(columns))),
                      text("'claimed'"), text("1"), bindparam("claimed_at", now, type_=send_ledger.c.claimed_at.type),
                      bindparam("updated_at", now, type_=send_ledger.c.updated_at.type))
        statement = postgresql.insert(send_ledger).from_select(
            [*columns, "status", "attempts", "claimed_at", "updated_at"], rows)
    else:
        statement = sqlite.insert(send_ledger).values([
            {**dict(zip(columns, v, strict=True)), "status": "claimed", "attempts": 1, "claimed_at": now,
             "updated_at": now} for v in values])
    granted = {tuple(r) for r in connection.execute(
        statement.on_conflict_do_nothing(index_elements=["notification_id", "channel"])
        .returning(send_ledger.c.notification_id, send_ledger.c.channel))}
    return [g for g in gates if (g.key.notification_id, g.key.channel) not in granted]


class _Counts:
    """The owners' and communities' counted sends (pending.COUNTED), as pending.history counts them."""

    def __init__(self, connection: Connection, gates: Sequence[PendingSendGate], owners: list[str]):
        self.sends: dict[str, list[tuple[str, datetime]]] = defaultdict(list)  # owner -> (channel, sent_at)
        self.community_today: Counter = Counter()  # (community, day start) -> count
        if not gates:
            return
        week_start = min(g.now for g in gates) - timedelta(days=7)
        rows = connection.execute(
            select(ps.owner_id, ps.channel, ps.sent_at)
            .where(_among(connection, ps.owner_id, owners), ps.status.in_(pending.COUNTED), ps.sent_at > week_start,
                   not_(_keys(connection, gates))))
        for r in rows:
            self.sends[r.owner_id].append((r.channel, r.sent_at))
        for community, day_start in {(g.row.community, self._day_start(g)) for g in gates
                                     if g.row.community is not None}:
            self.community_today[(community, day_start)] = connection.execute(
                select(func.count()).select_from(pending_sends)
                .where(ps.community == community, ps.status.in_(pending.COUNTED), ps.sent_at >= day_start,
                       not_(_keys(connection, gates)))).scalar_one()

    @staticmethod
    def _day_start(g: PendingSendGate) -> datetime:
        return g.calendar.day_start(g.calendar.local_day(g.now))

    def history(self, g: PendingSendGate, now: datetime) -> ContactHistory:
        day_start, week_start = self._day_start(g), g.now - timedelta(days=7)
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
        now = max(s.gate.now for s in sent)
        key = ((send_ledger.c.notification_id == bindparam("key_notification"))
               & (send_ledger.c.channel == bindparam("key_channel")))
        connection.execute(
            update(send_ledger).where(key).values(status="sent", provider=bindparam("new_provider"),
                                                  provider_message_id=bindparam("new_message_id"),
                                                  updated_at=bindparam("new_updated_at")),
            [{"key_notification": s.notification_id, "key_channel": s.channel, "new_provider": s.provider,
              "new_message_id": s.fields["provider_message_id"], "new_updated_at": now} for s in sent])
        connection.execute(update(pending_sends).where(_keys(connection, [s.gate for s in sent]))
                           .values(status="sent", reason=None, updated_at=now))
        add_to_outbox(connection, outbox, *(sent_event(s.notification_id, s.channel, s.p, s.provider,
                                                       s.fields["provider_message_id"]) for s in sent))
    for s in settlements:
        if s.status != "sent":
            sender.settle(connection, s.gate, s.notification_id, s.channel, s.status, s.provider, s.p, **s.fields)
    return [None] * len(settlements)
