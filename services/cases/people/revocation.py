"""Taking back every session of a staff member (their refresh tokens): sessions.py says why and when."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update

from services.cases.tables import staff_sessions


def revoke_all(connection: Connection, staff_id: str, now: datetime, reason: str) -> int:
    """Revoke every open session of this staff member; how many there were."""
    result = connection.execute(
        update(staff_sessions)
        .where(staff_sessions.c.staff_id == staff_id, staff_sessions.c.revoked_at.is_(None),
               staff_sessions.c.expires_at > now)
        .values(revoked_at=now, revoked_reason=reason[:32]))
    return result.rowcount
