"""The notifier's copy of each community's calendar, kept from `community.configured`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from services.notifier.calendar import CommunityCalendar, DaysOff, SendCalendar
from services.notifier.tables import community_calendars

_FIELDS = ("timezone", "locale", "send_windows", "quiet_start", "quiet_end", "holiday_calendar", "skip_weekends")


def configure(connection: Connection, p: dict, configured_at: datetime) -> bool:
    """Keep the community's calendar unless a newer one is already kept; True if kept."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {k: p[k] for k in _FIELDS}
    values["send_windows"] = list(values["send_windows"])
    now = datetime.now(UTC)
    statement = insert(community_calendars).values(
        community=p["community"], configured_at=configured_at, updated_at=now, **values)
    statement = statement.on_conflict_do_update(
        index_elements=["community"],
        set_={**values, "configured_at": configured_at, "updated_at": now},
        where=community_calendars.c.configured_at <= configured_at,
    ).returning(community_calendars.c.community)
    return connection.execute(statement).first() is not None


def community_calendar(connection: Connection, community: str | None) -> CommunityCalendar:
    """The community's calendar, or the product defaults for one we have not heard of."""
    if community is None:
        return CommunityCalendar()
    row = connection.execute(
        select(community_calendars).where(community_calendars.c.community == community)
    ).mappings().first()
    if row is None:
        return CommunityCalendar()
    return CommunityCalendar(
        timezone=row["timezone"], send_windows=tuple(row["send_windows"]), quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"], holiday_calendar=row["holiday_calendar"],
        skip_weekends=row["skip_weekends"],
    )


@dataclass(frozen=True)
class CalendarBook:
    """Builds a community's SendCalendar with the holiday source and window length in force."""

    days_off: DaysOff
    window_minutes: int

    def for_community(self, connection: Connection, community: str | None) -> SendCalendar:
        return SendCalendar(community_calendar(connection, community), self.days_off, self.window_minutes)
