"""Which community an owner's phone or email belongs to, so a reply is read in that community's time.

The gateway never reads cases' tables: it learns addresses from the reminders cases publishes
(reminder.requested, and the notice inside case.escalated) and each community's timezone from
community.configured. Addresses are stored only as a keyed hash (HMAC-SHA256 under a key derived
from SECRET_KEY): the table answers "which community is this sender in?" and nothing else.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from flask import g, has_request_context
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from services.gateway.config import load_settings
from services.gateway.tables import address_directory, community_timezones

DEFAULT_TIMEZONE = "Asia/Shanghai"  # the product's home; used for senders we have not heard of


@dataclass(frozen=True)
class SenderPlace:
    """Where a sender lives, as far as the gateway knows."""

    timezone: str = DEFAULT_TIMEZONE
    community: str | None = None
    locale: str | None = None


@cache
def _secret() -> str:
    return load_settings().secret_key


def address_key(secret: str, channel: str, address: str) -> str:
    """The keyed hash an address is stored under; email is compared without case."""
    kind = "sms" if channel == "sms" else "email"
    plain = address.strip().lower() if kind == "email" else address.strip()
    return hmac.new(_directory_key(secret), f"{kind}:{plain}".encode(), hashlib.sha256).hexdigest()


@cache
def _directory_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"gateway-address-directory", hashlib.sha256).digest()


def _upsert(connection: Connection, table, key_column: str, values: dict) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    connection.execute(statement.on_conflict_do_update(
        index_elements=[key_column], set_={k: statement.excluded[k] for k in values if k != key_column}))


def remember_address(connection: Connection, channel: str, address: str, community: str,
                     locale: str | None) -> None:
    _upsert(connection, address_directory, "address_key", {
        "address_key": address_key(_secret(), channel, address), "community": community, "locale": locale,
        "updated_at": datetime.now(UTC)})


def remember_community(connection: Connection, community: str, timezone: str, locale: str) -> None:
    _upsert(connection, community_timezones, "community", {
        "community": community, "timezone": timezone, "locale": locale, "updated_at": datetime.now(UTC)})


# The same lookup as plain SQL, for PostgreSQL's hot path: the webhook asks it once per reply, and
# SQLAlchemy's select machinery costs more than the round trip.
PLACE_ON_POSTGRESQL = (
    "SELECT d.community, d.locale, t.timezone FROM address_directory d"
    " LEFT JOIN community_timezones t ON t.community = d.community WHERE d.address_key = %(key)s"
)


def place_of(connection: Connection, channel: str, address: str) -> SenderPlace:
    """The sender's community and its timezone; the default timezone when either is unknown.

    Within one web request the directory is asked once per sender (reading the reply and choosing
    the auto-reply's language both need it; only the gateway worker writes the directory).
    """
    memo = g.setdefault("sender_places", {}) if has_request_context() else {}
    place = memo.get((channel, address))
    if place is None:
        place = memo[(channel, address)] = _look_up(connection, channel, address)
    return place


def _look_up(connection: Connection, channel: str, address: str) -> SenderPlace:
    key = address_key(_secret(), channel, address)
    if connection.dialect.name == "postgresql":
        row = connection.exec_driver_sql(PLACE_ON_POSTGRESQL, {"key": key}).first()
    else:
        row = connection.execute(
            select(address_directory.c.community, address_directory.c.locale, community_timezones.c.timezone)
            .outerjoin(community_timezones, community_timezones.c.community == address_directory.c.community)
            .where(address_directory.c.address_key == key)
        ).first()
    if row is None:
        return SenderPlace()
    community, locale, timezone = row
    return SenderPlace(timezone or DEFAULT_TIMEZONE, community, locale)
