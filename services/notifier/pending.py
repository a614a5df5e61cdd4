"""Sends waiting for their window: kept, cancelled, claimed for a provider call, settled."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, case, func, not_, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier.calendar import SendCalendar, SendWindow
from services.notifier.governor import ContactHistory
from services.notifier.tables import WAITING, pending_sends, send_stops

# Sends that count against the governor: made, possibly made, or under way.
COUNTED = ("sending", "sent", "unknown")


@dataclass(frozen=True)
class Key:
    notification_id: str
    channel: str

    @property
    def where(self):
        return and_(pending_sends.c.notification_id == self.notification_id,
                    pending_sends.c.channel == self.channel)


def _insert(connection: Connection):
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def keep(connection: Connection, row: dict) -> bool:
    """Keep a requested send once per (notification, channel); False if it was kept before."""
    statement = _insert(connection)(pending_sends).values(**row).on_conflict_do_nothing(
        index_elements=["notification_id", "channel"]).returning(pending_sends.c.notification_id)
    return connection.execute(statement).first() is not None


def stop(connection: Connection, scope: str, subject_id: str, through: datetime, reason: str,
         now: datetime) -> int:
    """Cancel what was asked for up to `through` for an owner or a case, and remember it; return rows cancelled.

    Remembering matters: a request published before the payment may arrive after it.
    """
    statement = _insert(connection)(send_stops).values(
        scope=scope, subject_id=subject_id, through=through, reason=reason, updated_at=now)
    connection.execute(statement.on_conflict_do_update(
        index_elements=["scope", "subject_id"],
        set_={"through": through, "reason": reason, "updated_at": now},
        where=send_stops.c.through < through,
    ))
    subject = pending_sends.c.owner_id if scope == "owner" else pending_sends.c.case_id
    return cancel(connection, reason, now, subject == subject_id, pending_sends.c.requested_at <= through)


def stopped_by(connection: Connection, owner_id: str, case_id: str, requested_at: datetime) -> str | None:
    """Why a request is cancelled on arrival (a stop already covers it), or None."""
    return connection.execute(
        select(send_stops.c.reason).where(
            or_(and_(send_stops.c.scope == "owner", send_stops.c.subject_id == owner_id),
                and_(send_stops.c.scope == "case", send_stops.c.subject_id == case_id)),
            send_stops.c.through >= requested_at,
        ).order_by(send_stops.c.through.desc()).limit(1)
    ).scalar()


def cancel(connection: Connection, reason: str, now: datetime, *where) -> int:
    """Cancel waiting sends matching `where`; a send already under way is not touched."""
    return connection.execute(
        update(pending_sends).where(pending_sends.c.status.in_(WAITING), *where)
        .values(status="cancelled", reason=reason[:200], updated_at=now)
    ).rowcount


def due(connection: Connection, now: datetime, limit: int) -> list:
    return connection.execute(
        select(pending_sends).where(pending_sends.c.status.in_(WAITING), pending_sends.c.due_at <= now)
        .order_by(pending_sends.c.due_at, pending_sends.c.requested_at, pending_sends.c.notification_id,
                  pending_sends.c.channel)
        .limit(limit)
    ).all()


def expire(connection: Connection, now: datetime) -> int:
    return cancel(connection, "expired: no allowed window before it went stale", now,
                  pending_sends.c.expires_at <= now)


def claim(connection: Connection, key: Key, now: datetime) -> bool:
    """Take a waiting, due send for a provider call; False if it was cancelled or taken meanwhile.

    An UPDATE first, so the row (and on SQLite the database) is locked before anything is read.
    """
    return connection.execute(
        update(pending_sends).where(key.where, pending_sends.c.status.in_(WAITING),
                                    pending_sends.c.due_at <= now)
        .values(status="sending", updated_at=now)
    ).rowcount == 1


def admit(connection: Connection, key: Key, now: datetime) -> None:
    connection.execute(update(pending_sends).where(key.where).values(
        status="sending", reason=None, sent_at=now, attempts=pending_sends.c.attempts + 1, updated_at=now))


def move(connection: Connection, key: Key, status: str, reason: str | None, now: datetime,
         due_at: datetime | None = None) -> None:
    values = {"status": status, "reason": reason[:200] if reason else None, "updated_at": now}
    if due_at is not None:
        values["due_at"] = due_at
    if status in WAITING or status == "skipped":
        values["sent_at"] = None
    connection.execute(update(pending_sends).where(key.where).values(**values))


def defer_waiting(connection: Connection, key: Key, reason: str, now: datetime, due_at: datetime) -> bool:
    """Move a send still waiting to a later time; False if it was cancelled or taken meanwhile."""
    return connection.execute(
        update(pending_sends).where(key.where, pending_sends.c.status.in_(WAITING))
        .values(status="deferred", reason=reason[:200], due_at=due_at, updated_at=now)
    ).rowcount == 1


def lock_owner(connection: Connection, owner_id: str) -> None:
    """Serialise governor decisions for one owner across dispatchers (PostgreSQL; SQLite locks the file)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:owner))"), {"owner": owner_id})


def history(connection: Connection, key: Key, owner_id: str, community: str | None,
            calendar: SendCalendar, window: SendWindow | None, now: datetime) -> ContactHistory:
    """Count the owner's and the community's sends the governor weighs, this one left out."""
    day_start = calendar.day_start(calendar.local_day(now))
    week_start = now - timedelta(days=7)
    window_start = window.opens if window is not None else now
    counted = and_(pending_sends.c.status.in_(COUNTED), not_(key.where))
    rows = connection.execute(
        select(pending_sends.c.channel,
               func.sum(case((pending_sends.c.sent_at >= day_start, 1), else_=0)),
               func.count(),
               func.sum(case((pending_sends.c.sent_at >= window_start, 1), else_=0)))
        .where(pending_sends.c.owner_id == owner_id, counted, pending_sends.c.sent_at > week_start)
        .group_by(pending_sends.c.channel)
    ).all()
    community_today = 0
    if community is not None:
        community_today = connection.execute(
            select(func.count()).select_from(pending_sends)
            .where(pending_sends.c.community == community, counted, pending_sends.c.sent_at >= day_start)
        ).scalar_one()
    return ContactHistory(
        today={r[0]: int(r[1] or 0) for r in rows}, week={r[0]: int(r[2]) for r in rows},
        this_window={r[0]: int(r[3] or 0) for r in rows} if window is not None else {},
        community_today=community_today,
    )


def interrupted(connection: Connection, before: datetime) -> list:
    """Sends claimed for a provider call before `before` and never settled (a crash mid-send)."""
    return connection.execute(
        select(pending_sends.c.notification_id, pending_sends.c.channel)
        .where(pending_sends.c.status == "sending", pending_sends.c.updated_at < before)
    ).all()
