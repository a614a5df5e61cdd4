"""Turn a decision to send into reminder requests for the notifier."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from shared.envelope import Envelope, trusted_event


def reminder_requests(
    *, case_id: str, community: str, owner_id: str, name: str, locale: str, contacts: dict[str, str],
    stage: str, template: str, channels: tuple[str, ...], sends: int, amount_owed: Decimal, today: date,
) -> list[Envelope]:
    """One request per send of the day; channels the owner has no working contact for are dropped.

    Letters need no phone or email: they go to the unit's postal address.
    """
    usable = [c for c in channels if c == "letter" or c in contacts]
    if not usable or sends <= 0:
        return []
    recipient = {"owner_id": owner_id, "name": name, "locale": locale,
                 "phone": contacts.get("sms"), "email": contacts.get("email")}
    events = []
    for slot in range(sends):
        # Letters are served once, with the first send of the day.
        slot_channels = usable if slot == 0 else [c for c in usable if c != "letter"]
        if not slot_channels:
            continue
        events.append(trusted_event("reminder.requested", {
            "notification_id": str(uuid.uuid4()), "case_id": case_id, "community": community,
            "stage": stage, "slot": slot, "send_on": today, "channels": slot_channels,
            "template": template, "recipient": recipient,
            "context": {"amount_owed": f"{amount_owed:.2f}", "community": community},
        }))
    return events
