"""Emailed reports: HTML that mail clients can draw, one staff_report.requested per request or period."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from services.cases import report_mail, reports
from services.cases.app import create_app
from services.cases.config import ReportMail, load_report_mail
from services.cases.schedule import tick
from services.cases.tables import communities, outbox
from shared.config import ConfigError
from shared.db import make_engine
from shared.envelope import decode
from tests.unit.report_builders import (
    COMMUNITY,
    EVENING,
    SHANGHAI,
    D,
    build_collection_world,
    build_meeting_world,
    local,
)
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment

MANAGERS = ReportMail(time(18, 0), {COMMUNITY: ("li.manager@example.com", "zhao.boss@example.com")})


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(migrated_database(tmp_path, "cases"))
    add_community(engine, COMMUNITY)
    add_community(engine, "river-view")
    yield engine
    engine.dispose()


def community(engine) -> reports.Community:
    with engine.connect() as connection:
        return reports.find_community(connection, COMMUNITY)


def compose(engine, kind: str):
    with engine.connect() as connection:
        return report_mail.compose(connection, kind, community(engine), D, EVENING)


def published(engine) -> list:
    with engine.connect() as connection:
        bodies = connection.execute(select(outbox.c.body).where(outbox.c.routing_key == "staff_report.requested")
                                    .order_by(outbox.c.seq)).scalars().all()
    return [decode(body) for body in bodies]


def no_script_and_no_svg(html: str) -> None:
    assert "<script" not in html.lower() and "<svg" not in html.lower() and "<style" not in html.lower()


def test_the_daily_summary_draws_the_dashboards_figures_as_table_bars(engine):
    with engine.begin() as connection:
        build_collection_world(connection)

    email = compose(engine, "daily_progress")

    no_script_and_no_svg(email.html)
    assert email.subject == "每日收缴进度 · lakeside-garden · 2026-10-05"
    # The month's columns scale to the best day: 950 on the 5th is the full width, 800 on the 3rd is 84%.
    bars = dict(re.findall(r'>(10-0\d)</td>.*?(?:width:(\d+)%|<td style="padding-left)', email.html, re.S))
    assert bars["10-05"] == "100" and bars["10-03"] == "84" and bars["10-04"] == ""
    assert "950.00" in email.html and "1,750.00" in email.html  # today, and the month so far
    # The ranking, best first: li 60.0%, zhang 23.1%, wang 0.0%; zhao has no portfolio.
    ranking = re.findall(r"(\d|—)\. (\S+)</td>.*?>([\d.]+%|无在管案件)</td>", email.html, re.S)
    assert ranking == [("1", "李娜", "60.0%"), ("2", "张伟", "23.1%"), ("3", "王强", "0.0%"), ("—", "赵敏", "无在管案件")]
    assert "  1. 李娜: 60.0%" in email.text and "  10-05: 950.00" in email.text


def test_a_long_community_name_still_makes_a_subject_the_event_accepts(engine):
    with engine.begin() as connection:
        build_collection_world(connection)
        connection.execute(update(communities).where(communities.c.id == COMMUNITY).values(name="湖" * 200))

    email = compose(engine, "daily_progress")

    assert len(email.subject) == 200 and email.subject.endswith("…")
    event = report_mail.report_event("6f3f1c52-6b8e-4d0e-9a51-3d2b7c0e8a12", "daily_progress", COMMUNITY,
                                     ("li.manager@example.com",), email)
    assert decode(event.to_json()).payload["subject"] == email.subject


def test_a_community_in_english_gets_its_reports_in_english(engine):
    with engine.begin() as connection:
        build_collection_world(connection)
        connection.execute(update(communities).where(communities.c.id == COMMUNITY).values(locale="en"))

    email = compose(engine, "daily_progress")

    assert email.subject.startswith("Daily collection progress") and "Collector ranking" in email.html
    assert "Collector ranking" in email.text and "催收员排名" not in email.html


def test_the_three_day_report_sets_each_figure_beside_the_period_before(engine):
    with engine.begin() as connection:
        build_meeting_world(connection)

    email = compose(engine, "three_day")

    no_script_and_no_svg(email.html)
    assert email.subject == "三日报告 · lakeside-garden · 2026-10-03 – 2026-10-05"
    # Figures from the periodic report (tests/unit/test_reports.py): recovered 400 against 700.
    assert "  回款 | 400.00 | 700.00 | -300.00" in email.text
    assert "  超时问题 | 2 | 1 | +1" in email.text
    # Issues by category, the bar being what is still open: leaks 2 opened, 1 still open; noise from before.
    assert re.findall(r"  (\S+): 未解决 (\d) · 新增 (\d)", email.text) == [
        ("漏水", "1", "2"), ("噪音", "1", "0"), ("绿化", "1", "1")]
    assert re.search(r"<td[^>]*>回款</td><td[^>]*>400.00</td><td[^>]*>700.00</td><td[^>]*>-300.00</td>", email.html)
    # Breached in the period: repairs, then the second leak; the broken promise of 700.
    assert re.findall(r"  (维修|漏水) \| A \| 2026-10-0\d \d\d:\d\d", email.text) == ["维修", "漏水"]
    assert "  A | 2026-10-04 | 700.00 | 2026-10-05" in email.text


def test_a_manager_emails_a_report_through_the_outbox(engine, tmp_path, monkeypatch):
    with engine.begin() as connection:
        build_collection_world(connection)
    client, app = client_for(tmp_path, monkeypatch, engine, f"{COMMUNITY}=li.manager@example.com;*=ops@example.com")

    response = client.post("/api/v1/reports/email", json={"kind": "three_day", "community": COMMUNITY},
                           headers=manager_of(app))

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["recipients"] == 2 and body["subject"].startswith("三日报告")
    [event] = published(engine)
    assert event.id == body["report_id"] == str(event.payload["report_id"])
    assert event.payload["kind"] == "three_day" and event.payload["community"] == COMMUNITY
    assert event.payload["recipients"] == ["li.manager@example.com", "ops@example.com"]
    assert event.payload["subject"] == body["subject"] and "<table" in event.payload["html"]
    again = client.post("/api/v1/reports/email", json={"kind": "three_day", "community": COMMUNITY},
                        headers=manager_of(app))
    assert again.status_code == 202 and len(published(engine)) == 2  # a manager asking twice gets two


@pytest.mark.parametrize("body, status, field", [
    ({"kind": "daily_progress", "community": COMMUNITY}, 422, "community"),  # nobody to send it to
    ({"kind": "weekly", "community": COMMUNITY}, 422, "kind"),
    ({"kind": "daily_progress"}, 422, "community"),
    ({"kind": "daily_progress", "community": COMMUNITY, "to": "me@example.com"}, 422, "to"),
])
def test_a_report_request_that_cannot_be_sent_is_refused_and_publishes_nothing(engine, tmp_path, monkeypatch,
                                                                              body, status, field):
    client, app = client_for(tmp_path, monkeypatch, engine, "river-view=someone@example.com")

    response = client.post("/api/v1/reports/email", json=body, headers=manager_of(app))

    assert response.status_code == status and field in response.get_json()["errors"], response.get_json()
    assert published(engine) == []


def test_the_clock_sends_each_report_once_per_period_even_across_restarts(engine):
    first_day = date(2026, 10, 1)
    sent = []
    for n in range(6):
        today = first_day + timedelta(days=n)
        for hour, minute in ((17, 59), (18, 0), (18, 1), (23, 30)):
            sent.append(report_mail.send_due(engine, local(today, hour, minute), MANAGERS))
    restarted = make_engine(str(engine.url))
    sent.append(report_mail.send_due(restarted, local(first_day + timedelta(days=5), 23, 59), MANAGERS))
    restarted.dispose()

    events = published(engine)
    daily = [e for e in events if e.payload["kind"] == "daily_progress"]
    three_day = [e for e in events if e.payload["kind"] == "three_day"]
    assert [e.payload["subject"][-10:] for e in daily] == [str(first_day + timedelta(days=n)) for n in range(6)]
    # Periods are counted in threes from 1 Jan 2024: ... 29 Sep-1 Oct, 2-4 Oct, 5-7 Oct (not over by the 6th).
    assert [e.payload["subject"][-23:] for e in three_day] == ["2026-09-29 – 2026-10-01", "2026-10-02 – 2026-10-04"]
    assert sent[:4] == [0, 2, 0, 0] and sum(sent) == 8 and sent[-1] == 0
    assert {e.payload["recipients"][0] for e in events} == {"li.manager@example.com"}
    assert all(e.payload["community"] == COMMUNITY for e in events)  # river-view has nobody to tell


def test_a_scheduled_report_has_the_same_id_whoever_sends_it(engine):
    evening = local(date(2026, 10, 4), 18, 30)

    report_mail.send_due(engine, evening, MANAGERS)
    before = {e.payload["kind"]: e.id for e in published(engine)}
    with engine.begin() as connection:  # as if the rows had been relayed and purged: a late tick sends copies
        connection.execute(outbox.delete())
    report_mail.send_due(engine, evening, MANAGERS)

    # ... with the same ids, which the notifier's inbox has already seen.
    assert {e.payload["kind"]: e.id for e in published(engine)} == before

    ids = {e.payload["kind"]: e.id for e in published(engine)}
    assert ids == {kind: report_mail.scheduled_id(kind, COMMUNITY, report_mail.period_of(kind, date(2026, 10, 4)))
                   for kind in ("daily_progress", "three_day")}


def test_the_report_time_is_the_communitys_local_time(engine):
    with engine.begin() as connection:
        connection.execute(update(communities).where(communities.c.id == COMMUNITY).values(timezone="Europe/London"))
    shanghai_evening = datetime(2026, 10, 5, 18, 30, tzinfo=SHANGHAI)  # 11:30 in London

    assert report_mail.send_due(engine, shanghai_evening, MANAGERS) == 0
    assert report_mail.send_due(engine, datetime(2026, 10, 5, 17, 0, tzinfo=UTC), MANAGERS) == 1  # 18:00 BST


def test_a_community_whose_report_cannot_be_made_does_not_hold_back_the_others(engine, caplog):
    with engine.begin() as connection:
        # lakeside-garden comes first, and its timezone is not one.
        connection.execute(update(communities).where(communities.c.id == COMMUNITY).values(timezone="Nowhere/Bad"))
    everyone = ReportMail(time(18, 0), {"*": ("ops@example.com",)})

    assert report_mail.send_due(engine, local(date(2026, 10, 5), 19), everyone) == 1

    assert [e.payload["community"] for e in published(engine)] == ["river-view"]
    assert any(r.getMessage().startswith("scheduled report failed") for r in caplog.records)


def test_the_workers_tick_sends_the_reports_due(engine):
    tick(engine, local(date(2026, 10, 4), 19), MANAGERS)

    assert sorted(e.payload["kind"] for e in published(engine)) == ["daily_progress", "three_day"]


@pytest.mark.parametrize("environ, message", [
    ({"CASES_DAILY_REPORT_AT": "6pm"}, "CASES_DAILY_REPORT_AT"),
    ({"CASES_DAILY_REPORT_AT": "24:00"}, "CASES_DAILY_REPORT_AT"),
    ({"CASES_REPORT_RECIPIENTS": "lakeside-garden"}, "CASES_REPORT_RECIPIENTS"),
    ({"CASES_REPORT_RECIPIENTS": "lakeside-garden=not-an-address"}, "not an email address"),
    ({"CASES_REPORT_RECIPIENTS": "lakeside-garden=" + ",".join(f"m{n}@example.com" for n in range(30))
      + ";*=" + ",".join(f"o{n}@example.com" for n in range(21))}, "more than 50"),
])
def test_report_settings_that_make_no_sense_stop_the_service(environ, message):
    with pytest.raises(ConfigError, match=message) as refused:
        load_report_mail(environ)
    assert "not-an-address" not in str(refused.value)


def test_report_settings_name_recipients_per_community_and_for_all():
    settings = load_report_mail({"CASES_DAILY_REPORT_AT": "07:30", "CASES_REPORT_RECIPIENTS":
                                 "lakeside-garden=a@example.com, b@example.com; *=ops@example.com"})

    assert settings.send_at == time(7, 30)
    assert settings.recipients_for("lakeside-garden") == ("a@example.com", "b@example.com", "ops@example.com")
    assert settings.recipients_for("river-view") == ("ops@example.com",)
    assert load_report_mail({}).send_at == time(18, 0) and load_report_mail({}).recipients_for("x") == ()


def client_for(tmp_path, monkeypatch, engine, recipients: str):
    set_environment(monkeypatch, CASES_DATABASE_URL=str(engine.url), DATA_DIR=str(tmp_path),
                    SECRET_KEY="cases-secret", CASES_REPORT_RECIPIENTS=recipients)
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: EVENING})
    return app.test_client(), app


def manager_of(app) -> dict:
    from shared.auth import issue_token

    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 'm-1', 'manager', (COMMUNITY,))}"}
