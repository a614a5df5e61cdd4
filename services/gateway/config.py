"""gateway configuration, from the environment."""
from __future__ import annotations

import os

from services.gateway.faq.matching import DEFAULT_THRESHOLD
from shared.config import ConfigError, Settings


def load_settings() -> Settings:
    return Settings.from_env().require(
        "BROKER_URL", "GATEWAY_DATABASE_URL", "GATEWAY_PUBLIC_URL", "TWILIO_AUTH_TOKEN", "SECRET_KEY",
        "SENDGRID_WEBHOOK_PUBLIC_KEY", "SENDGRID_INBOUND_SECRET",
    )


def faq_match_threshold(environ: dict[str, str] | None = None) -> float:
    """FAQ_MATCH_THRESHOLD: how alike (0-1) a question must be to an FAQ entry to get its answer."""
    raw = (os.environ if environ is None else environ).get("FAQ_MATCH_THRESHOLD", "")
    try:
        value = float(raw) if raw else DEFAULT_THRESHOLD
    except ValueError:
        raise ConfigError(f"FAQ_MATCH_THRESHOLD must be a number between 0 and 1, not {raw!r}") from None
    if not 0 < value <= 1:
        raise ConfigError(f"FAQ_MATCH_THRESHOLD must be between 0 and 1, not {raw!r}")
    return value


def faq_cache_seconds(environ: dict[str, str] | None = None) -> float:
    """FAQ_CACHE_SECONDS: how long a gunicorn worker may answer from its copy of the FAQ (default 10)."""
    raw = (os.environ if environ is None else environ).get("FAQ_CACHE_SECONDS", "")
    try:
        value = float(raw) if raw else 10.0
    except ValueError:
        raise ConfigError(f"FAQ_CACHE_SECONDS must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= 3600:
        raise ConfigError(f"FAQ_CACHE_SECONDS must be between 0 and 3600, not {raw!r}")
    return value


def trusted_proxies(environ: dict[str, str] | None = None) -> int:
    """GATEWAY_TRUSTED_PROXIES: how many proxies in front of the gateway append X-Forwarded-For
    (default 0: the header is ignored, so a sender cannot choose the address it is limited by)."""
    raw = (os.environ if environ is None else environ).get("GATEWAY_TRUSTED_PROXIES", "")
    try:
        value = int(raw) if raw else 0
    except ValueError:
        raise ConfigError(f"GATEWAY_TRUSTED_PROXIES must be a whole number, not {raw!r}") from None
    if not 0 <= value <= 5:
        raise ConfigError(f"GATEWAY_TRUSTED_PROXIES must be between 0 and 5, not {raw!r}")
    return value
