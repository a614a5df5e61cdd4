"""An owner opens the reply-form link from the follow-up letter in a real browser, and cases hears it.

Runs the gateway and cases as processes (gunicorn and each worker) on RabbitMQ and PostgreSQL;
the notifier plays no part here, so it is not started.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import requests

from deploy.local import LocalSystem
from shared.auth import issue_token
from shared.reply_form import MAX_AGE_SECONDS, make_reply_form_link
from tests import support
from tests.e2e.conftest import SECRET, _dump_logs, free_port
from tests.e2e.test_thin_slice import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.postgres]
SERVICES = ("cases", "gateway")
COMMUNITY = "lakeside"
GONE = "此链接已不能使用"


class CasesAndGateway(LocalSystem):
    """The two services the reply form crosses, each with its worker."""

    def migrate(self) -> None:
        for service in SERVICES:
            self.run("-m", f"services.{service}", "migrate")

    def start(self) -> CasesAndGateway:
        for service in SERVICES:
            env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.ports[service]}"}
            self._spawn(f"{service}-web", env, "-m", "gunicorn", "-c",
                        f"deploy/{service}.gunicorn.conf.py", f"services.{service}.wsgi:app")
            self._spawn(f"{service}-worker", self.env, "-m", f"services.{service}", "worker")
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        for service in SERVICES:
            wait_for(lambda s=service: self._ready(s), bool, timeout)

    def _ready(self, service: str) -> bool:
        self.check_alive()
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{self.url(service)}/readyz", timeout=2).status_code == 200
        return False


@pytest.fixture(scope="module")
def system(rabbit_url, postgres_ready, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("reply-form")
    ports = {"cases": free_port(), "gateway": free_port(), "notifier": free_port()}
    with support.postgres_database() as cases_db, support.postgres_database() as gateway_db:
        env = {
            "APP_ENV": "test", "DATA_DIR": str(tmp_path), "SECRET_KEY": SECRET, "BROKER_URL": rabbit_url,
            "BROKER_NAMESPACE": support.unique("form") + ".", "CASES_DATABASE_URL": cases_db,
            "GATEWAY_DATABASE_URL": gateway_db, "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{ports['gateway']}",
            "GUNICORN_WORKERS": "1", "LOG_LEVEL": "INFO",
        }
        running = CasesAndGateway(env, ports, log_dir=tmp_path / "logs")
        running.migrate()
        with running.start():
            try:
                running.wait_ready()
            except Exception:
                _dump_logs(tmp_path / "logs")
                raise
            yield running
            running.check_alive()


def staff(role: str) -> dict:
    return {"Authorization": f"Bearer {issue_token(SECRET, f'e2e-{role}', role, [COMMUNITY])}"}


def open_case(system) -> dict:
    cases = system.url("cases")
    created = requests.put(f"{cases}/api/v1/communities/{COMMUNITY}", headers=staff("admin"),
                           json={"name": "Lakeside", "timezone": "Asia/Shanghai"}, timeout=10)
    assert created.status_code == 200, created.text
    opened = requests.post(f"{cases}/api/v1/cases", headers=staff("collector"), timeout=10, json={
        "community": COMMUNITY, "amount_owed": "2860.00",
        "owner": {"name": "王芳", "phone": "+8613900139001", "locale": "zh-CN"}})
    assert opened.status_code == 201, opened.text
    return opened.json()


def issues_of(system, case_id: str) -> list[dict]:
    found = requests.get(f"{system.url('cases')}/api/v1/issues", headers=staff("collector"),
                         params={"community": COMMUNITY}, timeout=10)
    assert found.status_code == 200, found.text
    return [issue for issue in found.json()["items"] if issue["case_id"] == case_id]


def test_an_owner_answers_the_form_in_a_browser_and_the_complaint_reaches_the_case(system, browser,
                                                                                    artifacts_dir):
    case = open_case(system)
    link = make_reply_form_link(SECRET, system.url("gateway"), case["owner"]["id"], case["id"])
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    try:
        shown = page.goto(link)
        assert shown.status == 200 and page.locator("h1").inner_text() == "物业费回复单"
        assert "王芳" not in page.content()  # the page knows the owner by id only
        page.check("#reason-service_complaint")
        page.select_option("#category", "leaks")
        page.fill("#complaint_detail", "厨房天花板漏水两个月了")
        page.check("#reason-hardship")
        page.fill("#problem", "请先修好漏水，再谈物业费")
        page.screenshot(path=str(Path(artifacts_dir) / "reply_form_filled.png"), full_page=True)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "已收到，谢谢您！"
        page.screenshot(path=str(Path(artifacts_dir) / "reply_form_thanks.png"))

        [issue] = wait_for(lambda: issues_of(system, case["id"]), bool)
        assert (issue["category"], issue["source"], issue["status"]) == ("leaks", "form", "open")
        assert "厨房天花板漏水两个月了" in issue["description"]
        assert "请先修好漏水，再谈物业费" in issue["description"]

        again = page.goto(link)  # the same link a second time
        assert again.status == 410 and page.locator("h1").inner_text() == GONE
    finally:
        context.close()


def test_an_expired_or_altered_link_shows_the_same_plain_page(system, browser, artifacts_dir):
    gateway = system.url("gateway")
    issued = time.time() - MAX_AGE_SECONDS - 60
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: issued)
        expired = make_reply_form_link(SECRET, gateway, "owner-1", "case-1")
    fresh = make_reply_form_link(SECRET, gateway, "owner-1", "case-1")
    altered = fresh[:-3] + ("A" if fresh[-3] != "A" else "B") + fresh[-2:]
    page = browser.new_page(locale="zh-CN")
    try:
        texts = []
        for target in (expired, altered):
            response = page.goto(target)
            assert response.status == 410
            assert page.locator("form").count() == 0
            texts.append(page.locator("main").inner_text())
        page.screenshot(path=str(Path(artifacts_dir) / "reply_form_gone.png"))
    finally:
        page.close()
    assert texts[0] == texts[1] and GONE in texts[0]
