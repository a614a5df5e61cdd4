"""notifier configuration, from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from services.notifier.governor import Caps
from shared.config import ConfigError, Settings


def load_settings() -> Settings:
    settings = Settings.from_env()
    needed = ["BROKER_URL", "NOTIFIER_DATABASE_URL", "GATEWAY_PUBLIC_URL"]
    if settings.sms_provider == "twilio":
        needed += ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"]
    if settings.email_provider == "sendgrid":
        needed += ["SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL"]
    return settings.require(*needed)


@dataclass(frozen=True)
class SendingRules:
    """How the dispatcher paces sends and how the governor caps them."""

    # Provider calls a second, per channel. Twilio sends 1 segment/s from a long code unless a
    # Messaging Service or short code is configured; raise this only with one of those.
    rate_per_second: float = 10.0
    poll_seconds: float = 15.0  # how often the dispatcher looks for due sends
    window_minutes: int = 90  # how long a send window stays open (never into quiet hours)
    # Days a deferred send may slip past the day of its first window before it expires.
    stale_days: int = 2
    # Test-only: every moment counts as an open window (the governor and opt-outs still hold).
    send_immediately: bool = False
    caps: Caps = field(default_factory=Caps)


def load_rules(environ: dict[str, str] | None = None) -> SendingRules:
    env = os.environ if environ is None else environ

    def get(name: str, default: str) -> str:
        return env.get(name, "").strip() or default

    def number(name: str, default: str, kind=int, minimum: float = 0):
        try:
            value = kind(get(name, default))
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {get(name, default)!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, not {value}")
        return value

    immediately = get("NOTIFIER_SEND_IMMEDIATELY", "false").lower() in {"1", "true", "yes"}
    if immediately and get("APP_ENV", "development") == "production":
        raise ConfigError("NOTIFIER_SEND_IMMEDIATELY ignores send windows and quiet hours: never in production")
    return SendingRules(
        rate_per_second=number("SEND_RATE_PER_SECOND", "10", float, 0.01),
        poll_seconds=number("DISPATCH_POLL_SECONDS", "15", float, 0.05),
        window_minutes=number("SEND_WINDOW_MINUTES", "90", int, 1),
        stale_days=number("REMINDER_STALE_DAYS", "2"),
        send_immediately=immediately,
        caps=Caps(
            per_day={"sms": number("GOVERNOR_SMS_PER_DAY", "2"), "email": number("GOVERNOR_EMAIL_PER_DAY", "1")},
            per_week={"sms": number("GOVERNOR_SMS_PER_WEEK", "6"), "email": number("GOVERNOR_EMAIL_PER_WEEK", "7")},
            messages_per_day=number("GOVERNOR_MESSAGES_PER_DAY", "3"),
            community_per_day=number("COMMUNITY_DAILY_BUDGET", "5000"),
        ),
    )
