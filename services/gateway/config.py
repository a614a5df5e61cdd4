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


def _setting(environ: dict[str, str] | None, name: str, parse, default, kind: str, low, high,
             low_allowed: bool = True):
    """A number from the environment, `default` when unset; ConfigError naming it when it is no
    such number (`kind`) or falls outside low..high."""
    raw = (os.environ if environ is None else environ).get(name, "")
    try:
        value = parse(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be {kind}, not {raw!r}") from None
    if not (low <= value if low_allowed else low < value) or value > high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {raw!r}")
    return value


def faq_match_threshold(environ: dict[str, str] | None = None) -> float:
    """FAQ_MATCH_THRESHOLD: how alike (0-1) a question must be to an FAQ entry to get its answer."""
    return _setting(environ, "FAQ_MATCH_THRESHOLD", float, DEFAULT_THRESHOLD, "a number between 0 and 1", 0, 1,
                    low_allowed=False)


def faq_cache_seconds(environ: dict[str, str] | None = None) -> float:
    """FAQ_CACHE_SECONDS: how long a gunicorn worker may answer from its copy of the FAQ (default 10)."""
    return _setting(environ, "FAQ_CACHE_SECONDS", float, 10.0, "a number of seconds", 0, 3600)


def trusted_proxies(environ: dict[str, str] | None = None) -> int:
    """GATEWAY_TRUSTED_PROXIES: how many proxies in front of the gateway append X-Forwarded-For
    (default 0: the header is ignored, so a sender cannot choose the address it is limited by)."""
    return _setting(environ, "GATEWAY_TRUSTED_PROXIES", int, 0, "a whole number", 0, 5)
