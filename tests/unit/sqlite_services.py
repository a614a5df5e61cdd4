"""Service databases on throwaway SQLite files, and a clean environment to build apps in."""
from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Engine, Table, func, select

from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]

# Every variable shared.config.Settings reads: cleared so the runner's own environment never leaks in.
SETTINGS_VARIABLES = (
    "APP_ENV", "DATA_DIR", "BROKER_URL", "CASES_DATABASE_URL", "NOTIFIER_DATABASE_URL",
    "GATEWAY_DATABASE_URL", "SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM",
    "TWILIO_API_BASE_URL", "SENDGRID_API_KEY", "SENDGRID_FROM_EMAIL", "SENDGRID_API_HOST",
    "SENDGRID_WEBHOOK_PUBLIC_KEY", "GATEWAY_PUBLIC_URL", "SMS_PROVIDER", "EMAIL_PROVIDER",
    "PROVIDER_TIMEOUT_SECONDS", "LOG_LEVEL", "BROKER_NAMESPACE", "OUTBOX_POLL_SECONDS", "REPLY_DOMAIN",
    "SENDGRID_INBOUND_SECRET", "STAFF_TOKEN_MINUTES", "STAFF_SESSION_HOURS", "GATEWAY_TRUSTED_PROXIES",
)
_QUIETED_LOGGERS = ("twilio.http_client", "urllib3", "amqp", "kombu")


def set_environment(monkeypatch, **values: str) -> None:
    """Leave only `values` among the variables the services read."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


_MIGRATED: dict[str, Path] = {}  # service -> a SQLite file its migrations built, once per test run
_TEMPLATES = tempfile.TemporaryDirectory(prefix="migrated-sqlite-")


def migrated_database(tmp_path: Path, service: str) -> str:
    """A SQLite URL for `service`'s database, brought to its newest schema.

    The service's Alembic migrations run once per test run, into a template file; each test gets
    its own byte-for-byte copy of it (what the migrations build, without paying for them per test).
    """
    target = tmp_path / f"{service}.sqlite"
    if target.exists():  # already there (and maybe holding rows): migrate it in place, as ever
        upgrade(ROOT / "services" / service / "migrations", f"sqlite:///{target}")
        return f"sqlite:///{target}"
    template = _MIGRATED.get(service)
    if template is None:
        template = Path(_TEMPLATES.name) / f"{service}.sqlite"
        upgrade(ROOT / "services" / service / "migrations", f"sqlite:///{template}")
        with closing(sqlite3.connect(template)) as connection:  # everything in the one file
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _MIGRATED[service] = template
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def row_count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


@contextmanager
def root_logging_kept():
    """Undo `configure_logging` on the way out: it replaces the root handlers pytest relies on.

    Use it around the call only (not across test phases): pytest swaps its capture handlers
    between setup, call and teardown.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quieted = {name: logging.getLogger(name).level for name in _QUIETED_LOGGERS}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, previous in quieted.items():
            logging.getLogger(name).setLevel(previous)


def add_community(engine: Engine, community: str = "lakeside-garden", timezone: str = "Asia/Shanghai") -> None:
    """Register a community the way a manager would, with the product's defaults."""
    from datetime import UTC, datetime

    from services.cases.tables import communities

    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(communities.insert().values(
            id=community, name=community, timezone=timezone, locale="zh-CN",
            send_windows=["09:30", "14:00", "19:30"], quiet_start="21:00", quiet_end="08:00",
            holiday_calendar="CN", skip_weekends=False, ladder=None, created_at=now, updated_at=now,
        ))


def cases_app(tmp_path: Path, monkeypatch, now, communities: tuple[str, ...], secret: str = "cases-secret"):
    """The cases app on a migrated SQLite database, its clock at `now`, with `communities` set up."""
    from services.cases.app import create_app

    set_environment(monkeypatch, CASES_DATABASE_URL=migrated_database(tmp_path, "cases"), DATA_DIR=str(tmp_path),
                    SECRET_KEY=secret)
    with root_logging_kept():
        app = create_app({"CASES_NOW": now})
    for community in communities:
        add_community(app.extensions["cases.db"], community)
    return app
