"""gateway configuration, from the environment."""
from __future__ import annotations

from shared.config import Settings


def load_settings() -> Settings:
    return Settings.from_env().require(
        "BROKER_URL", "GATEWAY_DATABASE_URL", "GATEWAY_PUBLIC_URL", "TWILIO_AUTH_TOKEN", "SECRET_KEY",
        "SENDGRID_WEBHOOK_PUBLIC_KEY", "SENDGRID_INBOUND_SECRET",
    )
