"""Staff sessions: the refresh token a sign-in hands out, and taking it back.

A sign-in opens a session: a random refresh token (shown once, kept only as its SHA-256) that
trades for a new short access token until it expires (STAFF_SESSION_HOURS after the sign-in, not
extended by use) or is revoked. Each refresh builds the access token from the account as it is
now, and only while it is active. Signing out revokes one session; deactivating someone, changing
their role, communities or password, or signing them out everywhere revokes all of theirs, in the
transaction that makes the change. The refresh token is not rotated: one token serves the whole
session (a tab keeps it in sessionStorage), so a retried or concurrent refresh cannot lock the
person out; a stolen one works until it expires or its session is revoked.

Races: the refresh marks its session used with `UPDATE ... WHERE revoked_at IS NULL`, which on
PostgreSQL waits for a revoking transaction in flight and then finds the row revoked; so once a
change to an account has committed, no refresh mints a token from the old account.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from services.cases.people.credentials import SignedIn
from services.cases.people.revocation import revoke_all
from services.cases.people.staff_accounts import communities_of
from services.cases.tables import staff, staff_sessions

__all__ = ["Session", "digest", "open_session", "refresh", "revoke_all", "sign_out"]
KEPT_AFTER_EXPIRY = timedelta(days=30)  # an ended session's row, for who-was-signed-in-when questions


@dataclass(frozen=True)
class Session:
    id: str
    refresh_token: str  # only here, once: the table keeps its digest
    expires_at: datetime


def digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()


def open_session(connection: Connection, staff_id: str, now: datetime, lifetime: timedelta) -> Session:
    """A new session for someone who has just signed in (and the clearing of their long-ended ones)."""
    connection.execute(delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id,
                                                    staff_sessions.c.expires_at < now - KEPT_AFTER_EXPIRY))
    session = Session(str(uuid.uuid4()), secrets.token_urlsafe(32), now + lifetime)
    connection.execute(staff_sessions.insert().values(
        id=session.id, staff_id=staff_id, token_digest=digest(session.refresh_token), created_at=now,
        expires_at=session.expires_at, last_used_at=now))
    return session


def refresh(connection: Connection, refresh_token: str, now: datetime) -> SignedIn | None:
    """Who may have a new access token for this refresh token, as they are now; None when the session
    is unknown, revoked or expired, or the account inactive (alike, to the caller)."""
    row = connection.execute(
        select(staff_sessions.c.id, staff.c.id.label("staff_id"), staff.c.role, staff.c.active)
        .join(staff, staff.c.id == staff_sessions.c.staff_id)
        .where(staff_sessions.c.token_digest == digest(refresh_token))
    ).first()
    if row is None or not row.active:
        return None
    used = connection.execute(
        update(staff_sessions)
        .where(staff_sessions.c.id == row.id, staff_sessions.c.revoked_at.is_(None),
               staff_sessions.c.expires_at > now)
        .values(last_used_at=now))
    if used.rowcount != 1:
        return None
    # Read again after the update: it may have waited for a change to the account to commit.
    current = connection.execute(select(staff.c.role, staff.c.active).where(staff.c.id == row.staff_id)).first()
    if current is None or not current.active:
        return None
    return SignedIn(row.staff_id, current.role, communities_of(connection, row.staff_id))


def sign_out(connection: Connection, refresh_token: str, now: datetime) -> bool:
    """Revoke the session of this refresh token; False when there was none still open (no matter)."""
    result = connection.execute(
        update(staff_sessions)
        .where(staff_sessions.c.token_digest == digest(refresh_token), staff_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="signed_out"))
    return result.rowcount == 1
