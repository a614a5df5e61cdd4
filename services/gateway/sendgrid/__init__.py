"""SendGrid webhooks: the Event Webhook (delivery reports) and Inbound Parse (owners' email replies)."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app


def now() -> datetime:
    """The current time; tests may pin it with app.config['GATEWAY_NOW']."""
    pinned = current_app.config.get("GATEWAY_NOW")
    return pinned() if callable(pinned) else datetime.now(UTC)
