"""Throwaway broker vhosts and databases for integration tests, e2e tests and benchmarks."""
from __future__ import annotations

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
