"""Fixtures for the real parts: RabbitMQ and PostgreSQL.

Outside CI a missing service skips the tests that need it, with the reason; with CI=true it
fails them, so a skip never hides a missing service in CI.
"""
from __future__ import annotations

import os

import pytest

from tests import support

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the service must be there)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rabbit_url():
    """A throwaway vhost on the local RabbitMQ for this test run."""
    _require(support.rabbit_reachable())
    with support.rabbit_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_ready():
    _require(support.postgres_reachable())


@pytest.fixture
def postgres_url(postgres_ready):
    """A fresh PostgreSQL database for one test."""
    with support.postgres_database() as url:
        yield url


@pytest.fixture
def namespace():
    """A unique prefix for exchanges and queues, so tests sharing a vhost never meet."""
    return support.unique("t") + "."


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless, and quiet on this machine's closed network: without the background-networking flags
# Chromium keeps trying Google's hosts and gets refused.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser). `.ci/run` installs it."""
    _require(None if os.access(CHROMIUM, os.X_OK) else f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artifacts_dir():
    """Where browser tests leave screenshots (test-artifacts/, ignored by git)."""
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "test-artifacts")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.hookimpl(optionalhook=True)  # only a hook where pytest-xdist is loaded (not with -p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """How `make test` shares the tests out between its pytest-xdist workers.

    A module's tests go to one worker together (pytest-xdist's loadscope, biggest first), and so do
    all the e2e tests on one transport: they share one started system (tests/e2e/conftest.py's
    `running`), which is then started once per transport in the whole run.
    """
    from xdist.scheduler import LoadScopeScheduling

    class SharedSystemsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            transport = e2e_transport(nodeid)
            return f"e2e-{transport}" if transport else super()._split_scope(nodeid)

    return SharedSystemsTogether(config, log)


def e2e_transport(nodeid: str) -> str | None:
    """'embedded' or 'rabbitmq' for an e2e test that runs on the shared system of that transport."""
    if not nodeid.startswith("tests/e2e/") or not nodeid.endswith("]"):
        return None
    first = nodeid[nodeid.index("[") + 1:-1].split("-")[0]
    return first if first in {"embedded", "rabbitmq"} else None
