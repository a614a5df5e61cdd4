"""Case rules: message statuses only move forward, and reminders go where the owner can be reached."""
from __future__ import annotations

from decimal import Decimal
from functools import reduce

import pytest

from services.cases.domain import OpenCase, OwnerDetails, later_status


@pytest.mark.parametrize("current, reported, shown", [
    (None, "queued", "queued"),
    (None, "delivered", "delivered"),
    ("queued", "sent", "sent"),
    ("sent", "delivered", "delivered"),
    ("sent", "undelivered", "undelivered"),
    ("delivered", "open", "open"),
    ("open", "click", "click"),
    ("processed", "deferred", "deferred"),
    ("deferred", "bounce", "bounce"),
    # Late reports of earlier steps never win.
    ("delivered", "sent", "delivered"),
    ("delivered", "queued", "delivered"),
    ("sent", "accepted", "sent"),
    ("failed", "sent", "failed"),
    ("undelivered", "delivered", "undelivered"),
    ("bounce", "processed", "bounce"),
    ("open", "delivered", "open"),
    ("click", "processed", "click"),
    # Our own `failed` (the provider refused) outranks a late provider step.
    ("failed", "queued", "failed"),
])
def test_a_delivery_report_never_moves_a_status_backwards(current, reported, shown):
    assert later_status(current, reported) == shown


@pytest.mark.parametrize("arrivals, final", [
    (["delivered", "sent", "queued"], "delivered"),
    (["sent", "undelivered", "queued", "sent"], "undelivered"),
    (["open", "processed", "delivered"], "open"),
])
def test_reports_arriving_in_any_order_end_at_the_furthest_status(arrivals, final):
    assert reduce(later_status, arrivals, None) == final


@pytest.mark.parametrize("current, reported", [("sending", "queued"), ("deferred", "processed")])
def test_a_late_earlier_step_of_the_same_rank_does_not_replace_a_later_one(current, reported):
    assert later_status(current, reported) == current


def opening(phone: str | None, email: str | None) -> OpenCase:
    return OpenCase("lakeside-garden", Decimal("2860.00"), OwnerDetails("王芳", phone, email))


@pytest.mark.parametrize("phone, email, channels", [
    ("+8613800138001", "wang.fang@example.com", ["sms", "email"]),
    ("+8613800138001", None, ["sms"]),
    (None, "wang.fang@example.com", ["email"]),
    (None, None, []),
    ("", "", []),
])
def test_the_first_reminder_uses_every_address_the_owner_has(phone, email, channels):
    assert opening(phone, email).reminder_channels() == channels
