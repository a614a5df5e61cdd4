"""Wording per community: checked when saved (variables, segments), used when sent."""
from __future__ import annotations

import pytest

from services.notifier import templates
from services.notifier.app import create_app
from services.notifier.templates.overrides import template_overrides, wording_for
from shared.auth import issue_token
from shared.db import make_engine
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

SECRET = "templates-secret"
URL = "/api/v1/templates/lakeside/reminder/{channel}/{locale}"


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(migrated_database(tmp_path, "notifier"))
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine, tmp_path, monkeypatch):
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET)
    with root_logging_kept():
        app = create_app({"DATABASE_URL": engine.url.render_as_string(hide_password=False)})
    return app.test_client()


def staff(role: str, communities=("lakeside",)) -> dict:
    return {"Authorization": f"Bearer {issue_token(SECRET, 'staff-1', role, communities)}"}


@pytest.mark.parametrize("template", templates.TEMPLATES)
@pytest.mark.parametrize("locale", templates.LOCALES)
def test_every_default_sms_fits_the_default_segment_limit_with_a_long_chinese_name(template, locale):
    wording = templates.default_wording(template, "sms", locale)

    assert templates.check_wording("sms", locale, wording, 3) == {}


@pytest.mark.parametrize("template", templates.TEMPLATES)
@pytest.mark.parametrize("locale", templates.LOCALES)
def test_every_default_email_passes_the_checks_an_override_must_pass(template, locale):
    assert templates.check_wording("email", locale, templates.default_wording(template, "email", locale), 3) == {}


def test_the_html_part_escapes_a_malicious_name():
    _, text = templates.render_email("reminder", "en", {"name": "<script>alert(1)</script>", "amount": "1.00"})

    html = templates.email_html(text, "en")

    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<p>") == 3 and 'lang="en"' in html


def test_a_template_cannot_reach_python_internals_through_the_sandbox():
    errors = templates.check_wording("sms", "en", templates.Wording("{{ name.__class__.__mro__ }}"), 3)

    assert "body" in errors


def test_a_manager_saves_an_sms_that_fits_and_it_is_used_when_sending(client, engine):
    response = client.put(URL.format(channel="sms", locale="zh-CN"), headers=staff("manager"),
                          json={"body": "{{ name }}您好，{{ community }}物业费欠{{ amount }}元，请缴纳。"})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["source"] == "community"
    with engine.connect() as connection:
        wording = wording_for(connection, "lakeside", "reminder", "sms", "zh-CN")
    sms = templates.render_sms("reminder", "zh-CN", {"name": "王芳", "amount": "9.00", "community": "湖畔"}, wording)
    assert sms == "王芳您好，湖畔物业费欠9.00元，请缴纳。回复TD退订"
    shown = client.get(URL.format(channel="sms", locale="zh-CN"), headers=staff("collector")).get_json()
    assert shown["source"] == "community" and shown["sample_length"]["encoding"] == "UCS-2"


def test_another_community_keeps_the_default_wording(client, engine):
    client.put(URL.format(channel="sms", locale="en"), headers=staff("manager"), json={"body": "Pay {{ amount }}."})

    with engine.connect() as connection:
        assert wording_for(connection, "hillside", "reminder", "sms", "en") == templates.default_wording(
            "reminder", "sms", "en")


@pytest.mark.parametrize("channel, body, field, words", [
    ("sms", {"body": "{{ name }}您好" + "请缴费。" * 60}, "body", "segments"),
    ("sms", {"body": "Dear {{ name }}, " + "please pay now. " * 30}, "body", "segments"),
    ("sms", {"body": "Dear {{ nickname }}, pay {{ amount }}"}, "body", "Unknown variables: nickname"),
    ("sms", {"body": "Dear {{ name }"}, "body", "Not a valid template"),
    ("sms", {"body": "Pay {{ amount }}", "subject": "Hi"}, "subject", "no subject"),
    ("email", {"body": "Dear {{ name }}"}, "subject", "needs a subject"),
    ("email", {"body": "Dear {{ name }}", "subject": "Owed {{ balance }}"}, "subject", "balance"),
    ("email", {"body": "{% if false %}{{ name }}{% endif %}", "subject": "Fee"}, "body", "renders nothing"),
    ("sms", {"body": "x", "extra": 1}, "extra", "Unknown field"),
    # Wording that would make the checking web worker build gigabytes is refused before it runs.
    ("sms", {"body": "{{ 'x' * 10**10 }}"}, "body", "may not compute"),
    ("sms", {"body": "{{ (2**1000000)|string|length }}"}, "body", "may not compute"),
    ("sms", {"body": "{{ name.ljust(999999999) }}"}, "body", "may not call"),
    ("sms", {"body": "{{ name|center(999999999) }}"}, "body", "No filter named 'center'"),
    ("sms", {"body": "{{ '%999999999s'|format(name) }}"}, "body", "No filter named 'format'"),
    ("sms", {"body": "{% for i in range(100000) %}{{ name }}{% endfor %}"}, "body", "Unknown variables: range"),
])
def test_wording_that_cannot_be_sent_is_refused_with_422_and_nothing_is_stored(
        client, engine, channel, body, field, words):
    response = client.put(URL.format(channel=channel, locale="en"), headers=staff("manager"), json=body)

    assert response.status_code == 422
    error = response.get_json()
    assert set(error) == {"code", "status", "message", "errors"}
    assert words in " ".join(error["errors"][field])
    assert row_count(engine, template_overrides) == 0


def test_the_segment_limit_comes_from_sms_max_segments(client, engine, monkeypatch):
    monkeypatch.setenv("SMS_MAX_SEGMENTS", "1")
    body = {"body": "Dear {{ name }}, " + "please pay. " * 5}

    response = client.put(URL.format(channel="sms", locale="en"), headers=staff("manager"), json=body)

    assert response.status_code == 422 and "at most 1" in response.get_json()["errors"]["body"][0]


@pytest.mark.parametrize("headers, path, status", [
    ({}, URL.format(channel="sms", locale="en"), 401),
    (staff("collector"), URL.format(channel="sms", locale="en"), 403),
    (staff("manager", ("hillside",)), URL.format(channel="sms", locale="en"), 403),
    (staff("manager"), URL.format(channel="letter", locale="en"), 404),
    (staff("manager"), URL.format(channel="sms", locale="fr"), 404),
    (staff("manager"), "/api/v1/templates/lakeside/birthday/sms/en", 404),
    (staff("manager", ("x" * 65,)), "/api/v1/templates/" + "x" * 65 + "/reminder/sms/en", 404),
])
def test_only_a_manager_of_the_community_saves_known_wording(client, engine, headers, path, status):
    response = client.put(path, headers=headers, json={"body": "Pay {{ amount }}"})

    assert response.status_code == status and response.get_json()["code"] == status
    assert row_count(engine, template_overrides) == 0


def test_an_unset_value_at_send_time_renders_empty_rather_than_failing_the_send():
    text = templates.render_sms("reminder", "en", {"name": "Emily Chen"})

    assert "of CNY  is overdue" in text
    assert text.endswith(templates.OPT_OUT_HINT["en"])
