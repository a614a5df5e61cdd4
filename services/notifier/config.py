"""notifier configuration, from the environment."""
from __future__ import annotations

from shared.config import Settings


def load_settings() -> Settings:
    settings = Settings.from_env()
    needed = ["BROKER_URL", "NOTIFIER_DATABASE_URL", "GATEWAY_PUBLIC_URL"]
    if settings.sms_provider == "twilio":
        needed += ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"]
    if settings.email_provider == "sendgrid":
        needed += ["SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL"]
    return settings.require(*needed)
