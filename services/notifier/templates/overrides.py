"""A community's own wording for a template, channel and language, replacing the default."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Connection, String, Table, Text, and_, insert, select, update

from services.notifier.tables import metadata
from services.notifier.templates.rendering import Wording, default_wording, supported
from shared.db import UtcDateTime

# Saved only after it rendered with the known variables and fitted the SMS segment limit.
template_overrides = Table(
    "template_overrides",
    metadata,
    Column("community", String(64), primary_key=True),
    Column("template", String(32), primary_key=True),
    Column("channel", String(8), primary_key=True),  # sms | email
    Column("locale", String(8), primary_key=True),
    Column("subject", String(200)),  # email only
    Column("body", Text, nullable=False),
    Column("updated_by", String(64), nullable=False),  # the staff member's id
    Column("updated_at", UtcDateTime(), nullable=False),
)


def _key(community: str, template: str, channel: str, locale: str):
    t = template_overrides.c
    return and_(t.community == community, t.template == template, t.channel == channel, t.locale == locale)


def find(connection: Connection, community: str | None, template: str, channel: str,
         locale: str) -> Wording | None:
    if not community:
        return None
    row = connection.execute(
        select(template_overrides.c.body, template_overrides.c.subject)
        .where(_key(community, template, channel, supported(locale)))
    ).first()
    return Wording(row.body, row.subject) if row else None


def wording_for(connection: Connection, community: str | None, template: str, channel: str,
                locale: str) -> Wording:
    """The community's wording if it has its own, otherwise the default."""
    return find(connection, community, template, channel, locale) or default_wording(template, channel, locale)


def save(connection: Connection, community: str, template: str, channel: str, locale: str,
         wording: Wording, staff_id: str, now: datetime) -> None:
    values = {"subject": wording.subject, "body": wording.body, "updated_by": staff_id, "updated_at": now}
    changed = connection.execute(
        update(template_overrides).where(_key(community, template, channel, locale)).values(**values)
    ).rowcount
    if not changed:
        connection.execute(insert(template_overrides).values(
            community=community, template=template, channel=channel, locale=locale, **values))
