"""The managers' dashboard in a real headless Chromium, against cases serving a seeded database."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from services.cases import people
from services.cases.app import create_app
from shared.db import make_engine
from tests.e2e.conftest import free_port
from tests.unit.report_builders import (
    COMMUNITY,
    EVENING,
    SEP_1,
    build_collection_world,
    build_funnel_world,
    local,
)
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment
from tests.unit.test_dashboard import needing_attention

PASSWORD = "correct horse battery"
QUEUES = {"source": "management_api", "queues": [
    {"name": "cases.events", "service": "cases", "kind": "work", "ready": 3, "unacked": 1, "consumers": 2,
     "publish_rate": 1.5, "deliver_rate": 1.5, "oldest_age_seconds": 4.4},
    {"name": "cases.dead", "service": "cases", "kind": "dead", "ready": 0, "unacked": None, "consumers": None,
     "publish_rate": None, "deliver_rate": None, "oldest_age_seconds": None}],
    "alerts": [{"rule": "dead_letters", "subject": "notifier.dead", "severity": "warning",
                "message": "2 messages in the dead-letter queue"}]}


@pytest.fixture
def cases_url(tmp_path, monkeypatch):
    """cases on a free port (werkzeug, one thread per request), on the report tests' collection world."""
    url = migrated_database(tmp_path, "cases")
    engine = make_engine(url)
    add_community(engine, COMMUNITY)
    add_community(engine, "river-view")
    with engine.begin() as connection:
        build_collection_world(connection)
        build_funnel_world(connection)  # stages reached in September; no payment in October
        needing_attention(connection)
        people.create_staff(connection, people.NewStaff("boss", "经理", "manager", (COMMUNITY,), PASSWORD),
                            local(SEP_1))
    engine.dispose()
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY="browser-secret")
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: EVENING})
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    app.extensions["cases.db"].dispose()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    yield context.new_page()
    context.close()


def sign_in(page, cases_url: str) -> None:
    page.goto(f"{cases_url}/dashboard")
    page.fill("#sign-in input[name=username]", "boss")
    page.fill("#sign-in input[name=password]", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("body[data-drawn]")


def texts(page, selector: str) -> list[str]:
    return page.locator(selector).all_text_contents()


@pytest.mark.browser
def test_a_manager_signs_in_and_sees_the_seeded_figures_in_both_languages(page, cases_url, artifacts_dir):
    page.route("**/api/v1/ops/queues", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(QUEUES)))

    sign_in(page, cases_url)
    page.wait_for_selector("#queue-health table")

    assert page.locator("h1").text_content() == "催收管理看板"
    # Today and the month from report_builders: 950 on 5 Oct, 800 on 3 Oct.
    assert page.locator("[data-figure=recovered_today] strong").text_content() == "950.00"
    assert page.locator("[data-figure=recovered_month] strong").text_content() == "1,750.00"
    month = page.locator("svg[data-chart=month] rect.bar")
    assert month.count() == 5
    assert [month.nth(n).get_attribute("data-value") for n in range(5)] == ["0", "0", "800", "0", "950"]
    assert "10-05: 950.00" in texts(page, "svg[data-chart=month] title")
    ranking = texts(page, "svg[data-chart=ranking] text.label")
    assert ranking == ["1. 李娜", "2. 张伟", "3. 王强", "—. 赵敏"]
    assert "60.0%" in texts(page, "svg[data-chart=ranking] text.value")
    funnel = page.locator("svg[data-chart=funnel] rect.bar")
    # 6 Sep - 5 Oct: the notice reached by N1-N4 and N6, the lawyer's letter by N1, N4 and N7.
    assert [funnel.nth(n).get_attribute("data-value") for n in range(funnel.count())] == ["0", "5", "3", "0", "0"]
    assert texts(page, "svg[data-chart=funnel] text.label")[0] == "提醒"
    assert texts(page, "#unreachable td")[:3] == ["联系不上", "U1", "700.00"]
    assert texts(page, "svg[data-chart=issues] text.label") == ["电梯"]  # the lifts issue, past its deadline
    # The campaign since 1 Oct: 1,750 recovered / (1,750 + 7,500 still owed on the open cases).
    assert page.locator("svg[data-chart=campaign] rect.bar").get_attribute("data-value") == "0.1892"
    assert texts(page, "#queue-health td") == ["cases.events", "3", "1", "2", "4", "cases.dead", "0", "—", "—", "—"]
    assert "notifier.dead" in page.locator("#queue-health .alert").text_content()
    page.screenshot(path=str(Path(artifacts_dir) / "dashboard-zh-CN.png"), full_page=True)

    page.click("#language")
    page.wait_for_selector("body[data-drawn=en]")

    assert page.locator("h1").text_content() == "Collection dashboard"
    assert page.locator("#ranking h2").text_content() == "Collector ranking"
    assert texts(page, "svg[data-chart=funnel] text.label")[0] == "Reminder"
    assert page.locator("[data-figure=recovered_today] span").text_content() == "Recovered today"
    # Due 24 hours after 3 Oct 09:00, shown in the community's time whatever the browser's.
    assert texts(page, "#breached-table td") == ["Lifts", "C4", "10/4/2026, 9:00:00 AM"]
    page.screenshot(path=str(Path(artifacts_dir) / "dashboard-en.png"), full_page=True)
    page.reload()  # the language is remembered, and the session still signed in
    page.wait_for_selector("body[data-drawn=en]")
    assert page.locator("#progress h2").text_content() == "Collection progress"


@pytest.mark.browser
@pytest.mark.parametrize("status", [404, 403, 500])
def test_the_queue_panel_says_unavailable_when_the_ops_api_does_not_answer(page, cases_url, status):
    page.route("**/api/v1/ops/queues", lambda route: route.fulfill(
        status=status, content_type="application/json", body=json.dumps({"code": status})))

    sign_in(page, cases_url)
    page.wait_for_selector("#queue-health .unavailable")

    assert page.locator("#queue-health").text_content() == "队列状态暂不可用"
    assert page.locator("svg[data-chart=month] rect.bar").count() == 5  # the rest of the page is drawn


@pytest.mark.browser
def test_a_wrong_password_keeps_the_sign_in_form_with_a_message(page, cases_url):
    page.goto(f"{cases_url}/dashboard")
    page.fill("#sign-in input[name=username]", "boss")
    page.fill("#sign-in input[name=password]", "wrong")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#sign-in-error:not(:empty)")

    assert page.locator("#sign-in-error").text_content() == "用户名或密码错误"
    assert page.locator("#board").is_hidden()


@pytest.mark.browser
def test_the_dashboard_renews_its_short_token_and_its_sign_out_ends_the_sign_in(page, cases_url):
    page.route("**/api/v1/ops/queues", lambda route: route.fulfill(status=404, body="{}"))
    renewals, boards = [], []
    page.on("request", lambda r: renewals.append(r.method) if r.url.endswith("/api/v1/auth/refresh") else None)
    page.on("response", lambda r: boards.append(r.status) if "/api/v1/dashboard" in r.url else None)
    sign_in(page, cases_url)
    assert renewals == [] and boards == [200]

    # The access token is refused (as an expired one would be): one renewal, and the request again.
    page.evaluate("sessionStorage.setItem('dashboard.token', 'expired')")
    page.reload()
    page.wait_for_selector("body[data-drawn]")
    assert renewals == ["POST"] and boards == [200, 401, 200]
    assert page.evaluate("sessionStorage.getItem('dashboard.token')") != "expired"

    # About to expire: renewed before the request, which then goes through at once.
    page.evaluate("sessionStorage.setItem('dashboard.expires', String(Date.now() + 5000))")
    page.reload()
    page.wait_for_selector("body[data-drawn]")
    assert renewals == ["POST", "POST"] and boards == [200, 401, 200, 200]

    refresh_token = page.evaluate("sessionStorage.getItem('dashboard.refresh')")
    with page.expect_response("**/api/v1/auth/sign-out") as signed_out:
        page.click("#sign-out")
    assert signed_out.value.status == 204 and page.locator("#sign-in").is_visible()
    assert page.evaluate("[sessionStorage.getItem('dashboard.token'), sessionStorage.getItem('dashboard.refresh')]") \
        == [None, None]
    again = page.request.post(f"{cases_url}/api/v1/auth/refresh", data={"refresh_token": refresh_token})
    assert again.status == 401
