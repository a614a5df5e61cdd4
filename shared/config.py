"""Typed settings read from the environment, with embedded defaults for development.

Every service reads its configuration through `Settings.from_env()`; in production
(`APP_ENV=production`) a missing secret stops the service at start with a clear message.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me"
DEV_TWILIO_SID = "AC00000000000000000000000000000000"
DEV_TWILIO_TOKEN = "dev-twilio-auth-token"


class ConfigError(RuntimeError):
    """The environment does not describe a service that can start."""


@dataclass(frozen=True)
class Settings:
    env: str
    data_dir: Path
    broker_url: str
    cases_database_url: str
    notifier_database_url: str
    gateway_database_url: str
    secret_key: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_from: str
    twilio_api_base_url: str
    sendgrid_api_key: str
    sendgrid_from_email: str
    sendgrid_api_host: str
    sendgrid_webhook_public_key: str
    gateway_public_url: str
    reply_domain: str
    sendgrid_inbound_secret: str
    sms_provider: str
    email_provider: str
    provider_timeout: float
    log_level: str
    broker_namespace: str
    outbox_poll_seconds: float
    explicit: frozenset[str] = field(default_factory=frozenset)
    staff_token_minutes: float = 15.0  # how long a staff access token is honoured, at every service
    staff_session_hours: float = 12.0  # how long a sign-in may be refreshed (cases), unless revoked

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("DATA_DIR") or REPO_ROOT / "var")

        def get(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        def number(name: str, default: str) -> float:
            try:
                return float(get(name, default))
            except ValueError:
                raise ConfigError(f"{name} must be a number, not {get(name)!r}") from None

        def sqlite(name: str) -> str:
            return f"sqlite:///{data_dir / name}.sqlite"

        settings = cls(
            env=get("APP_ENV", "development"),
            data_dir=data_dir,
            broker_url=get("BROKER_URL", f"sqla+sqlite:///{data_dir / 'broker.sqlite'}"),
            cases_database_url=get("CASES_DATABASE_URL", sqlite("cases")),
            notifier_database_url=get("NOTIFIER_DATABASE_URL", sqlite("notifier")),
            gateway_database_url=get("GATEWAY_DATABASE_URL", sqlite("gateway")),
            secret_key=get("SECRET_KEY", DEV_SECRET),
            twilio_account_sid=get("TWILIO_ACCOUNT_SID", DEV_TWILIO_SID),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN", DEV_TWILIO_TOKEN),
            twilio_from=get("TWILIO_FROM", "+15005550006"),
            twilio_api_base_url=get("TWILIO_API_BASE_URL"),
            sendgrid_api_key=get("SENDGRID_API_KEY", "SG.dev-key"),
            sendgrid_from_email=get("SENDGRID_FROM_EMAIL", "billing@example.com"),
            sendgrid_api_host=get("SENDGRID_API_HOST", "https://api.sendgrid.com"),
            sendgrid_webhook_public_key=get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
            gateway_public_url=get("GATEWAY_PUBLIC_URL", "http://127.0.0.1:8003").rstrip("/"),
            reply_domain=get("REPLY_DOMAIN", "reply.localhost"),
            sendgrid_inbound_secret=get("SENDGRID_INBOUND_SECRET", "dev-inbound-secret"),
            sms_provider=get("SMS_PROVIDER", "console"),
            email_provider=get("EMAIL_PROVIDER", "console"),
            provider_timeout=number("PROVIDER_TIMEOUT_SECONDS", "10"),
            log_level=get("LOG_LEVEL", "INFO"),
            broker_namespace=get("BROKER_NAMESPACE"),
            outbox_poll_seconds=number("OUTBOX_POLL_SECONDS", "0.1"),
            explicit=frozenset(k for k, v in env.items() if v.strip()),
            staff_token_minutes=number("STAFF_TOKEN_MINUTES", "15"),
            staff_session_hours=number("STAFF_SESSION_HOURS", "12"),
        )
        settings.check_shape()
        return settings

    def check_shape(self) -> None:
        if self.env not in {"development", "test", "production"}:
            raise ConfigError(f"APP_ENV must be development, test or production, not {self.env!r}")
        if self.sms_provider not in {"twilio", "console"}:
            raise ConfigError(f"SMS_PROVIDER must be twilio or console, not {self.sms_provider!r}")
        if self.email_provider not in {"sendgrid", "console"}:
            raise ConfigError(f"EMAIL_PROVIDER must be sendgrid or console, not {self.email_provider!r}")
        if not (0 < self.staff_token_minutes < float("inf") and 0 < self.staff_session_hours < float("inf")):
            raise ConfigError("STAFF_TOKEN_MINUTES and STAFF_SESSION_HOURS must be more than 0")

    def require(self, *names: str) -> Settings:
        """Stop with a clear message if production lacks any of these variables."""
        if not self.production:
            return self
        missing = [name for name in names if name not in self.explicit]
        if "SECRET_KEY" in names and self.secret_key == DEV_SECRET:
            missing.append("SECRET_KEY (not the development value)")
        if missing:
            raise ConfigError(
                "production mode needs these environment variables set: " + ", ".join(missing)
            )
        return self
