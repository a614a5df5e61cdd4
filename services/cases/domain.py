"""The cases domain: commands and small rules, standard library only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

# Delivery reports arrive out of order; a message's status only ever moves forward.
_STATUS_RANK = {
    # Twilio: accepted -> queued -> sending -> sent -> delivered | undelivered | failed
    # SendGrid: processed -> deferred (still trying) -> delivered | bounce | dropped -> open -> click
    "accepted": 0, "queued": 1, "sending": 2, "processed": 3, "sent": 4, "deferred": 5,
    "delivered": 6,
    "undelivered": 7, "failed": 7, "canceled": 7, "bounce": 7, "dropped": 7,
    "open": 8, "click": 9,
}


@dataclass(frozen=True)
class OwnerDetails:
    name: str
    phone: str | None
    email: str | None
    locale: str = "zh-CN"
    key_owner: bool = False


@dataclass(frozen=True)
class OpenCase:
    """Staff open a case by hand: an owner, their unit and what is overdue on it."""

    community: str
    amount_owed: Decimal
    owner: OwnerDetails
    building: str = "-"
    unit_number: str = "-"
    fee_period: str | None = None
    due_date: date | None = None

    def reminder_channels(self) -> list[str]:
        """Channels the first reminder can use: those the owner has an address for."""
        channels = []
        if self.owner.phone:
            channels.append("sms")
        if self.owner.email:
            channels.append("email")
        return channels


def later_status(current: str | None, reported: str) -> str:
    """The status a message should show after `reported` arrives."""
    if current is None:
        return reported
    return reported if _STATUS_RANK.get(reported, 0) >= _STATUS_RANK.get(current, 0) else current
