"""The suppression list: addresses that opted out of a channel, and the sends they cancel."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier import pending
from services.notifier.tables import pending_sends, suppressions

# Twilio error codes that mean the number opted out (21610: replied STOP to our sender).
OPT_OUT_CODES = frozenset({"21610"})


def normalise(channel: str, address: str | None) -> str | None:
    if address is None:
        return None
    address = address.strip()
    return address.lower() if channel == "email" else address


def change(connection: Connection, channel: str, address: str, opted_out: bool, source: str,
           changed_at: datetime, now: datetime) -> int:
    """Record an opt-out or opt-in unless a later change is already recorded.

    An opt-out cancels the address's waiting sends on that channel; return how many.
    """
    address = normalise(channel, address)
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {"suppressed": opted_out, "source": source[:32], "changed_at": changed_at, "updated_at": now}
    applied = connection.execute(
        insert(suppressions).values(channel=channel, address=address, **values)
        .on_conflict_do_update(index_elements=["channel", "address"], set_=values,
                               where=suppressions.c.changed_at <= changed_at)
        .returning(suppressions.c.channel)
    ).first()
    if applied is None or not opted_out:
        return 0
    return pending.cancel(connection, f"opted out of {channel} ({source})", now,
                          pending_sends.c.channel == channel, pending_sends.c.address == address)


def suppressed_by(connection: Connection, channel: str, address: str | None) -> str | None:
    """Where the opt-out came from if the address is suppressed on this channel, else None."""
    if address is None:
        return None
    return connection.execute(
        select(suppressions.c.source).where(
            suppressions.c.channel == channel, suppressions.c.address == normalise(channel, address),
            suppressions.c.suppressed.is_(True))
    ).scalar()
