"""What the gateway learns from the bus: where owners live, and each community's timezone."""
from __future__ import annotations

from sqlalchemy import Connection

from services.gateway import directory
from shared.envelope import Envelope


def on_community_configured(connection: Connection, event: Envelope) -> None:
    p = event.payload
    directory.remember_community(connection, p["community"], p["timezone"], p["locale"])


def _remember_recipient(connection: Connection, reminder: dict) -> None:
    community = reminder.get("community")
    if not community:
        return
    recipient = reminder["recipient"]
    for channel, address in (("sms", recipient.get("phone")), ("email", recipient.get("email"))):
        if address:
            directory.remember_address(connection, channel, address, community, recipient["locale"])


def on_reminder_requested(connection: Connection, event: Envelope) -> None:
    _remember_recipient(connection, event.payload)


def on_case_escalated(connection: Connection, event: Envelope) -> None:
    notice = event.payload.get("notice")
    if notice is not None:
        _remember_recipient(connection, {**notice, "community": notice.get("community") or event.payload["community"]})


EVENT_HANDLERS = {
    "community.configured": on_community_configured,
    "reminder.requested": on_reminder_requested,
    "case.escalated": on_case_escalated,
}
