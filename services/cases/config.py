"""cases configuration, from the environment."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time

from marshmallow import ValidationError, validate

from shared.config import ConfigError, Settings


def load_settings() -> Settings:
    return Settings.from_env().require("SECRET_KEY", "BROKER_URL", "CASES_DATABASE_URL")


ANY_COMMUNITY = "*"
MAX_RECIPIENTS = 50  # what one staff_report.requested carries
_EMAIL = validate.Email()


def deduplicated(addresses) -> tuple[str, ...]:
    """Each address once, compared without regard to case; in order, the first spelling kept."""
    kept: dict[str, str] = {}
    for address in addresses:
        kept.setdefault(address.strip().lower(), address.strip())
    return tuple(kept.values())


@dataclass(frozen=True)
class ReportMail:
    """Who gets the emailed reports besides the community's managers (services.cases.report_mail), and
    when the worker's clock sends them (community local time)."""

    send_at: time = time(18, 0)
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)  # community (or "*") -> emails

    def recipients_for(self, community: str) -> tuple[str, ...]:
        return deduplicated(self.recipients.get(community, ()) + self.recipients.get(ANY_COMMUNITY, ()))


def load_report_mail(environ: dict[str, str] | None = None) -> ReportMail:
    """CASES_DAILY_REPORT_AT=HH:MM; CASES_REPORT_RECIPIENTS='community=a@x.cn,b@x.cn;*=boss@x.cn'."""
    env = os.environ if environ is None else environ
    at = env.get("CASES_DAILY_REPORT_AT", "").strip() or "18:00"
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", at):
        raise ConfigError(f"CASES_DAILY_REPORT_AT must be HH:MM (24-hour), not {at!r}")
    recipients: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in env.get("CASES_REPORT_RECIPIENTS", "").split(";"))):
        community, equals, emails = part.partition("=")
        addresses = tuple(e.strip() for e in emails.split(",") if e.strip())
        if not equals or not community.strip() or not addresses:
            raise ConfigError("CASES_REPORT_RECIPIENTS is 'community=email,email;…' ('*' for every community)")
        for address in addresses:
            try:
                _EMAIL(address)
            except ValidationError:
                raise ConfigError(f"CASES_REPORT_RECIPIENTS holds something that is not an email address "
                                  f"(for {community.strip()!r})") from None
        recipients[community.strip()] = recipients.get(community.strip(), ()) + addresses
    settings = ReportMail(time.fromisoformat(at), recipients)
    if any(len(settings.recipients_for(c)) > MAX_RECIPIENTS for c in recipients):
        raise ConfigError(f"CASES_REPORT_RECIPIENTS names more than {MAX_RECIPIENTS} addresses for one community")
    return settings
