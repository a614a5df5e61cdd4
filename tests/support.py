"""Throwaway broker vhosts and databases for integration tests, e2e tests and benchmarks."""
from __future__ import annotations

import atexit
import os
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg

RABBIT_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def rabbit_reachable() -> str | None:
    """None if RabbitMQ answers, else the reason it does not."""
    import socket

    host, port = RABBIT_HOST.split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        return f"RabbitMQ not reachable at {RABBIT_HOST}: {exc}"
    return None


def postgres_reachable() -> str | None:
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}"
    return None


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbit_vhost():
    """Yield an amqp:// URL on a fresh vhost, deleted afterwards."""
    vhost = unique("test")
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBIT_HOST}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@contextmanager
def postgres_database():
    """Yield a postgresql:// URL to a fresh, empty database, dropped afterwards."""
    name = unique("test")
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_TEMPLATES: dict[str, str] = {}  # service -> name of a database its migrations built, once per run


def _admin(statement: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(statement)


def _migrated_template(service: str) -> str:
    """A database the service's Alembic migrations built on this PostgreSQL, dropped at exit."""
    if service not in _TEMPLATES:
        from shared.migrations import upgrade

        name = unique(f"test_template_{service}")
        _admin(f'CREATE DATABASE "{name}"')
        atexit.register(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        upgrade(ROOT / "services" / service / "migrations", POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        _TEMPLATES[service] = name
    return _TEMPLATES[service]


def migrate_postgres(service: str, url: str) -> None:
    """Bring the fresh database at `url` (nobody connected) to `service`'s newest schema.

    The migrations run once per test run, into a template; the database is recreated, same name,
    as a copy of it (CREATE DATABASE ... TEMPLATE), which is much faster than migrating each time.
    """
    template = _migrated_template(service)
    name = url.rsplit("/", 1)[1]
    _admin(f'DROP DATABASE "{name}"')
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
