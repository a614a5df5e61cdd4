"""The system as processes: three gunicorn services and their workers, on either transport."""
from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

import pytest
import requests

from deploy.local import LocalSystem
from shared.auth import issue_token
from tests import support
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio

SECRET = "e2e-secret"


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Running:
    system: LocalSystem
    twilio: FakeTwilio
    sendgrid: FakeSendGrid
    token: str

    def url(self, service: str) -> str:
        return self.system.url(service)

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def _databases(transport: str, tmp_path, rabbit_url_factory, postgres_ready_check):
    if transport == "embedded":
        yield {
            "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
            "CASES_DATABASE_URL": f"sqlite:///{tmp_path / 'cases.sqlite'}",
            "NOTIFIER_DATABASE_URL": f"sqlite:///{tmp_path / 'notifier.sqlite'}",
            "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.sqlite'}",
        }
        return
    broker = rabbit_url_factory()
    postgres_ready_check()
    with support.postgres_database() as cases, support.postgres_database() as notifier, \
            support.postgres_database() as gateway:
        yield {"BROKER_URL": broker, "CASES_DATABASE_URL": cases,
               "NOTIFIER_DATABASE_URL": notifier, "GATEWAY_DATABASE_URL": gateway}


@pytest.fixture(scope="session", params=["embedded", "rabbitmq"])
def running(request, tmp_path_factory):
    """The whole system on one transport, shared by every e2e test that needs it.

    Started once per transport per run (each start migrates three databases and boots six
    processes). The tests that share it never meet: each works on its own fresh owner (phone
    number) and case, and reads back only what belongs to them.
    """
    transport = request.param
    tmp_path = tmp_path_factory.mktemp(f"e2e-{transport}")
    with FakeTwilio() as twilio, FakeSendGrid() as sendgrid, _databases(
        transport, tmp_path,
        lambda: request.getfixturevalue("rabbit_url"),
        lambda: request.getfixturevalue("postgres_ready"),
    ) as stores:
        ports = {name: free_port() for name in ("cases", "notifier", "gateway")}
        env = {
            **stores,
            "APP_ENV": "test",
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": SECRET,
            "BROKER_NAMESPACE": support.unique("e2e") + ".",
            "SMS_PROVIDER": "twilio",
            "TWILIO_API_BASE_URL": twilio.url,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM": "+15005550006",
            "EMAIL_PROVIDER": "sendgrid",
            "SENDGRID_API_HOST": sendgrid.url,
            "SENDGRID_API_KEY": sendgrid.api_key,
            "SENDGRID_FROM_EMAIL": "billing@example.com",
            "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{ports['gateway']}",
            "PROVIDER_TIMEOUT_SECONDS": "2",
            "GUNICORN_WORKERS": "1",
            "LOG_LEVEL": "INFO",
            # A case opened at any hour gets its first message at once (windows are unit-tested).
            "NOTIFIER_SEND_IMMEDIATELY": "true",
        }
        system = LocalSystem(env, ports, log_dir=tmp_path / "logs")
        system.migrate()
        with system.start():
            try:
                system.wait_ready()
            except Exception:
                _dump_logs(tmp_path / "logs")
                raise
            admin = issue_token(SECRET, "e2e-admin", "admin")
            created = requests.put(f"{system.url('cases')}/api/v1/communities/lakeside",
                                   json={"name": "Lakeside", "timezone": "Asia/Shanghai"},
                                   headers={"Authorization": f"Bearer {admin}"}, timeout=10)
            assert created.status_code == 200, created.text
            yield Running(system, twilio, sendgrid, issue_token(SECRET, "e2e-collector", "collector",
                                                                 ["lakeside"]))
            system.check_alive()


def _dump_logs(log_dir) -> None:
    for path in sorted(log_dir.glob("*.log")):
        print(f"==> {path.name}\n{path.read_text(errors='replace')[-3000:]}")

