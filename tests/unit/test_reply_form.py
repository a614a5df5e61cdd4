"""The reply form on the gateway: one answer per signed link, checked, published through the outbox."""
from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.gateway.app import create_app
from services.gateway.reply_form.attempts import Limit
from services.gateway.reply_form.csrf import issue_csrf_token
from services.gateway.tables import outbox, reply_form_submissions
from shared.envelope import decode
from shared.logs import JsonFormatter
from shared.reply_form import MAX_AGE_SECONDS, make_reply_form_token
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

SECRET = "reply-form-secret"
OWNER, CASE = "owner-7f3a", "case-51c2"
GONE = "此链接已不能使用"


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET)
    return url


def build_app(config: dict | None = None):
    with root_logging_kept():
        return create_app(config)


@pytest.fixture
def app(database):
    app = build_app()
    yield app
    app.extensions["gateway.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def link(owner: str = OWNER, case: str = CASE) -> str:
    return f"/r/{make_reply_form_token(SECRET, owner, case)}"


def expired_link() -> str:
    issued = time.time() - MAX_AGE_SECONDS - 60
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: issued)
        return link()


def csrf_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def answer(client, path: str, csrf: str | None = None, **fields):
    data = {"csrf_token": csrf if csrf is not None else csrf_of(client.get(path)), **fields}
    return client.post(path, data=data)


def published(app) -> list:
    with app.extensions["gateway.db"].connect() as connection:
        return [decode(body) for body in connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars()]


def nothing_kept(app) -> bool:
    engine = app.extensions["gateway.db"]
    return row_count(engine, outbox) == 0 and row_count(engine, reply_form_submissions) == 0


COMPLAINT = {"reason": ["service_complaint", "disputed_amount", "hardship"], "category": "lifts",
             "complaint_detail": "3号楼电梯经常停运", "disputed_amount": "1,200.50",
             "dispute_detail": "面积算错了", "problem": "请尽快修好电梯"}


def test_the_form_asks_in_chinese_by_default_and_in_english_when_the_browser_prefers_it(client):
    chinese = client.get(link())
    english = client.get(link(), headers={"Accept-Language": "en-GB,en;q=0.9"})
    switched = client.get(link() + "?lang=en", headers={"Accept-Language": "zh-CN"})

    assert chinese.status_code == english.status_code == switched.status_code == 200
    assert "未缴费的原因" in chinese.get_data(as_text=True)
    assert 'lang="zh-CN"' in chinese.get_data(as_text=True) and 'href="?lang=en"' in chinese.get_data(as_text=True)
    assert "Why is the fee unpaid?" in english.get_data(as_text=True)
    assert 'href="?lang=zh-CN"' in english.get_data(as_text=True)
    assert "Why is the fee unpaid?" in switched.get_data(as_text=True)


def test_the_page_loads_nothing_from_elsewhere_and_shows_no_ids(client):
    page = client.get(link())
    html = page.get_data(as_text=True)

    assert not re.search(r"<script|<link|\bsrc=|https?://", html)
    assert OWNER not in html and CASE not in html
    assert "尊敬的业主" in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"


def test_an_answer_is_published_once_with_its_reasons_and_thanked(app, client):
    response = answer(client, link(), **COMPLAINT)

    assert response.status_code == 200 and "已收到" in response.get_data(as_text=True)
    [event] = published(app)
    assert event.type == "form.submitted"
    p = event.payload
    assert (p["owner_id"], p["case_id"], p["locale"], p["problem"]) == (OWNER, CASE, "zh-CN", "请尽快修好电梯")
    assert [(r["reason"], r["category"], r["disputed_amount"], r["detail"]) for r in p["reasons"]] == [
        ("service_complaint", "lifts", None, "3号楼电梯经常停运"),
        ("disputed_amount", None, Decimal("1200.50"), "面积算错了"),
        ("hardship", None, None, ""),
    ]
    with app.extensions["gateway.db"].connect() as connection:
        [row] = connection.execute(select(reply_form_submissions)).all()
    assert row.submission_id == str(p["submission_id"]) and row.case_id == CASE


def test_the_english_page_publishes_an_english_answer(app, client):
    path = link() + "?lang=en"
    response = answer(client, path, reason="bill_not_received")

    assert response.status_code == 200 and "Thank you" in response.get_data(as_text=True)
    [event] = published(app)
    assert event.payload["locale"] == "en"
    assert [r["reason"] for r in event.payload["reasons"]] == ["bill_not_received"]


def test_full_width_digits_and_a_currency_sign_are_read_as_the_amount(app, client):
    assert answer(client, link(), reason="disputed_amount", disputed_amount="￥２８６０").status_code == 200
    [event] = published(app)
    assert event.payload["reasons"][0]["disputed_amount"] == Decimal("2860.00")


def test_every_box_at_its_longest_fits_under_the_size_limit(app, client):
    longest = "🏠" * 2000  # four bytes a character, twelve once percent-encoded
    fields = {name: longest for name in ("complaint_detail", "dispute_detail", "hardship_detail",
                                         "other_detail", "problem")}
    response = answer(client, link(), reason=["service_complaint", "disputed_amount", "hardship", "other"],
                      category="noise", disputed_amount="1", **fields)

    assert response.status_code == 200
    assert len(published(app)[0].payload["problem"]) == 2000


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "reasons", "请至少选择一个原因"),
        ({"reason": "teleport"}, "reasons", "请至少选择一个原因"),
        ({"reason": "service_complaint"}, "category", "请选择是哪方面的服务"),
        ({"reason": "service_complaint", "category": "billing_dispute"}, "category", "请选择是哪方面的服务"),
        ({"reason": "disputed_amount"}, "disputed_amount", "请填写您认为正确的金额"),
        ({"reason": "disputed_amount", "disputed_amount": "0"}, "disputed_amount", "请填写您认为正确的金额"),
        ({"reason": "disputed_amount", "disputed_amount": "-5"}, "disputed_amount", "请填写您认为正确的金额"),
        ({"reason": "disputed_amount", "disputed_amount": "abc"}, "disputed_amount", "请填写您认为正确的金额"),
        ({"reason": "disputed_amount", "disputed_amount": "NaN"}, "disputed_amount", "请填写您认为正确的金额"),
        ({"reason": "other", "other_detail": "长" * 2001}, "other_detail", "每项最多 2000 字"),
        ({"reason": "hardship", "problem": "x" * 2001}, "problem", "每项最多 2000 字"),
        ({"reason": "vacant_unit", "owner_name": "王芳"}, "form", "请检查填写的内容"),
    ],
    ids=["no-reason", "unknown-reason", "complaint-without-category", "category-not-a-service",
         "dispute-without-amount", "zero-amount", "negative-amount", "not-a-number", "nan",
         "detail-too-long", "problem-too-long", "unknown-field"],
)
def test_a_bad_answer_shows_the_form_again_with_the_reason_and_publishes_nothing(app, client, fields, field,
                                                                                  message):
    response = answer(client, link(), **fields)

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html and 'role="alert"' in html and 'name="csrf_token"' in html
    assert nothing_kept(app)


def test_a_refused_answer_keeps_what_the_owner_wrote_escaped(client):
    response = answer(client, link(), reason="service_complaint", problem="<b>电梯</b>")

    html = response.get_data(as_text=True)
    assert 'value="service_complaint" id="reason-service_complaint" checked' in html
    assert "&lt;b&gt;电梯&lt;/b&gt;" in html and "<b>电梯</b>" not in html


def test_the_link_can_still_be_answered_after_a_refused_attempt(app, client):
    assert answer(client, link(), reason="disputed_amount").status_code == 400
    assert answer(client, link(), reason="vacant_unit").status_code == 200
    assert len(published(app)) == 1


@pytest.mark.parametrize("csrf", ["", "forged", "for-another-link", "altered"])
def test_a_post_without_this_pages_csrf_token_is_refused_and_publishes_nothing(app, client, csrf):
    path = link()
    offered = {
        "": "", "forged": "abc.def",
        "for-another-link": issue_csrf_token(SECRET, make_reply_form_token(SECRET, OWNER, "another-case")),
        "altered": csrf_of(client.get(path))[:-2] + "AA",
    }[csrf]
    response = client.post(path, data={"csrf_token": offered, "reason": "vacant_unit"})

    assert response.status_code == 403
    assert "页面已过期" in response.get_data(as_text=True)
    assert nothing_kept(app)


def test_a_stale_csrf_token_is_refused(app, client):
    path = link()
    with pytest.MonkeyPatch.context() as patch:
        issued = time.time() - 2 * 24 * 3600
        patch.setattr(time, "time", lambda: issued)
        stale = issue_csrf_token(SECRET, path.removeprefix("/r/"))

    assert answer(client, path, csrf=stale, reason="vacant_unit").status_code == 403
    assert nothing_kept(app)


def test_expired_altered_and_answered_links_get_the_same_plain_page(client):
    answered = link(case="answered-case")
    assert answer(client, answered, reason="vacant_unit").status_code == 200
    good = make_reply_form_token(SECRET, OWNER, CASE)
    altered = f"/r/{good[:-3]}{'A' if good[-3] != 'A' else 'B'}{good[-2:]}"
    foreign = f"/r/{make_reply_form_token('another-secret', OWNER, CASE)}"

    pages = [client.get(path) for path in (expired_link(), altered, foreign, answered, "/r/nonsense")]

    assert {page.status_code for page in pages} == {410}
    assert len({page.get_data() for page in pages}) == 1
    html = pages[0].get_data(as_text=True)
    assert GONE in html and OWNER not in html and CASE not in html and "<form" not in html


def test_posting_to_an_answered_link_changes_nothing(app, client):
    path = link()
    csrf = csrf_of(client.get(path))
    assert answer(client, path, csrf=csrf, reason="vacant_unit").status_code == 200

    again = answer(client, path, csrf=csrf, reason="hardship")

    assert again.status_code == 410 and GONE in again.get_data(as_text=True)
    assert len(published(app)) == 1


@pytest.mark.parametrize("path", ["expired", "altered"])
def test_posting_to_an_expired_or_altered_link_publishes_nothing(app, client, path):
    target = expired_link() if path == "expired" else link()[:-4] + "AAAA"
    csrf = issue_csrf_token(SECRET, target.removeprefix("/r/"))

    response = client.post(target, data={"csrf_token": csrf, "reason": "vacant_unit"})

    assert response.status_code == 410
    assert nothing_kept(app)


def test_an_oversized_post_gets_413_and_publishes_nothing(app, client):
    path = link()
    response = client.post(path, data={"csrf_token": csrf_of(client.get(path)), "reason": "other",
                                       "other_detail": "x" * (130 * 1024)})

    assert response.status_code == 413 and "内容过长" in response.get_data(as_text=True)
    assert nothing_kept(app)


def test_posts_per_link_are_limited_across_workers(database):
    config = {"REPLY_FORM_POSTS_PER_LINK": Limit(2, timedelta(hours=1))}
    first_worker, second_worker = build_app(config), build_app(config)
    path = link()
    clients = [first_worker.test_client(), second_worker.test_client(), first_worker.test_client()]
    csrf = csrf_of(clients[0].get(path))

    statuses = [c.post(path, data={"csrf_token": csrf, "reason": "disputed_amount"}).status_code for c in clients]

    assert statuses == [400, 400, 429]
    limited = clients[2].post(path, data={"csrf_token": csrf, "reason": "vacant_unit"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "提交过于频繁" in limited.get_data(as_text=True)
    assert nothing_kept(first_worker)
    for app in (first_worker, second_worker):
        app.extensions["gateway.db"].dispose()


def test_posts_per_client_address_are_limited_whatever_the_link(database):
    app = build_app({"REPLY_FORM_POSTS_PER_IP": Limit(2, timedelta(hours=1))})
    client = app.test_client()
    here, elsewhere = {"REMOTE_ADDR": "198.51.100.7"}, {"REMOTE_ADDR": "203.0.113.9"}

    statuses = [client.post(link(case=f"case-{n}"), data={"reason": "other"}, environ_base=here).status_code
                for n in range(3)]
    other_owner = client.post(link(case="case-x"), data={"reason": "other"}, environ_base=elsewhere)

    assert statuses == [403, 403, 429]
    assert other_owner.status_code == 403  # refused for its CSRF token, not rate-limited
    app.extensions["gateway.db"].dispose()


def test_what_the_owner_writes_never_reaches_the_logs(app, client, caplog):
    secret_words = "我的电话13800138001，邻居张三家漏水"
    with caplog.at_level(logging.DEBUG):
        answer(client, link(case="case-a"), reason="other", other_detail="x" * 2001, problem=secret_words)
        answer(client, link(case="case-a"), reason="other", **{secret_words: "a field named by the sender"})
        answer(client, link(case="case-b"), reason="other", other_detail=secret_words, problem=secret_words)

    assert published(app)  # the answer itself went through
    formatter = JsonFormatter("gateway")
    assert caplog.records
    for record in caplog.records:
        assert secret_words not in formatter.format(record) and "漏水" not in str(record.__dict__)
