"""Emailed reports go to the community's own active managers, at their own addresses, plus the
CASES_REPORT_RECIPIENTS of that community and of '*': each address once, at most 50, never logged."""
from __future__ import annotations

import logging
from datetime import date, time

import pytest
from sqlalchemy import insert, select

from services.cases import report_mail, reports
from services.cases.config import ReportMail
from services.cases.demo import MANAGER, load_demo
from services.cases.people.staff_accounts import set_email, update_staff
from services.cases.tables import staff, staff_communities
from shared.db import make_engine
from shared.logs import JsonFormatter
from tests.unit.report_builders import COMMUNITY, EVENING, SEP_1, D, local
from tests.unit.sqlite_services import add_community, migrated_database
from tests.unit.test_report_mail import client_for, manager_of, published

ELSEWHERE = "river-view"
NOBODY_ELSE = ReportMail(time(18, 0), {})


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(migrated_database(tmp_path, "cases"))
    add_community(engine, COMMUNITY)
    add_community(engine, ELSEWHERE)
    yield engine
    engine.dispose()


def hire(engine, staff_id: str, role: str = "manager", email: str | None = None, communities=(COMMUNITY,),
         active: bool = True) -> str:
    """A staff row written straight in (no password hashing: these tests never sign in)."""
    with engine.begin() as connection:
        connection.execute(insert(staff).values(id=staff_id, username=staff_id, name=staff_id, role=role, email=email,
                                                password_hash="-", active=active, created_at=local(SEP_1)))
        for community in communities:
            connection.execute(insert(staff_communities).values(staff_id=staff_id, community=community))
    return staff_id


def recipients(engine, settings: ReportMail = NOBODY_ELSE, community: str = COMMUNITY) -> tuple[str, ...]:
    with engine.connect() as connection:
        return report_mail.recipients_of(connection, community, settings)


def send_now(engine, settings: ReportMail = NOBODY_ELSE, community: str = COMMUNITY) -> report_mail.SentReport:
    with engine.begin() as connection:
        return report_mail.send_now(connection, "daily_progress", reports.find_community(connection, community),
                                    D, EVENING, settings)


def test_the_report_goes_to_the_communitys_active_managers_with_an_email_and_nobody_else(engine):
    hire(engine, "li", email="li@lakeside.example.com")
    hire(engine, "zhao", email="zhao@lakeside.example.com", communities=(COMMUNITY, ELSEWHERE))
    hire(engine, "qian")  # a manager with no email on record
    hire(engine, "sun", email="sun@lakeside.example.com", active=False)
    hire(engine, "river", email="river@river.example.com", communities=(ELSEWHERE,))
    hire(engine, "wang", "collector", email="wang@lakeside.example.com")
    hire(engine, "zhou", "supervisor", email="zhou@lakeside.example.com")
    hire(engine, "root", "admin", email="root@example.com", communities=())
    hire(engine, "boss", "admin", email="boss@example.com", communities=(COMMUNITY,))

    sent = send_now(engine)

    [event] = published(engine)
    assert event.payload["recipients"] == ["li@lakeside.example.com", "zhao@lakeside.example.com"]
    assert sent.recipients == 2 and event.payload["community"] == COMMUNITY
    assert recipients(engine, community=ELSEWHERE) == ("river@river.example.com", "zhao@lakeside.example.com")


def test_a_manager_who_leaves_the_community_or_is_deactivated_stops_getting_it(engine):
    hire(engine, "li", email="li@lakeside.example.com")
    hire(engine, "zhao", email="zhao@lakeside.example.com")
    assert recipients(engine) == ("li@lakeside.example.com", "zhao@lakeside.example.com")

    with engine.begin() as connection:
        update_staff(connection, "li", communities=(ELSEWHERE,))
        update_staff(connection, "zhao", active=False)

    assert recipients(engine) == ()
    assert recipients(engine, community=ELSEWHERE) == ("li@lakeside.example.com",)


def test_managers_and_the_setting_are_merged_each_address_once_whatever_its_case(engine):
    hire(engine, "li", email="li@lakeside.example.com")
    hire(engine, "zhao", email="zhao@lakeside.example.com")
    settings = ReportMail(time(18, 0), {COMMUNITY: ("LI@Lakeside.Example.com", "audit@example.com"),
                                        ELSEWHERE: ("river-only@example.com",),
                                        "*": ("ops@example.com", "Audit@Example.com", "zhao@lakeside.example.com")})

    assert recipients(engine, settings) == ("li@lakeside.example.com", "zhao@lakeside.example.com",
                                            "audit@example.com", "ops@example.com")
    assert settings.recipients_for(COMMUNITY) == ("LI@Lakeside.Example.com", "audit@example.com", "ops@example.com",
                                                  "zhao@lakeside.example.com")


def test_two_managers_sharing_a_mailbox_get_one_copy(engine):
    hire(engine, "li", email="office@lakeside.example.com")
    hire(engine, "zhao", email="office@lakeside.example.com")

    assert recipients(engine) == ("office@lakeside.example.com",)


def test_recipients_beyond_fifty_are_left_off_managers_first_and_the_event_is_still_valid(engine, caplog):
    for n in range(45):
        hire(engine, f"m{n:02d}", email=f"m{n:02d}@lakeside.example.com")
    settings = ReportMail(time(18, 0), {"*": tuple(f"ops{n}@example.com" for n in range(10))})

    sent = send_now(engine, settings)

    [event] = published(engine)
    assert sent.recipients == 50 and len(event.payload["recipients"]) == 50
    assert event.payload["recipients"][:45] == [f"m{n:02d}@lakeside.example.com" for n in range(45)]
    assert event.payload["recipients"][45:] == [f"ops{n}@example.com" for n in range(5)]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.recipients == 55 and warning.kept == 50


def test_the_clock_sends_each_community_its_own_managers_report(engine):
    hire(engine, "li", email="li@lakeside.example.com")
    hire(engine, "river", email="river@river.example.com", communities=(ELSEWHERE,))

    assert report_mail.send_due(engine, local(date(2026, 10, 5), 19), NOBODY_ELSE) == 2  # the daily summary each

    sent = {e.payload["community"]: e.payload["recipients"] for e in published(engine)}
    assert sent == {COMMUNITY: ["li@lakeside.example.com"], ELSEWHERE: ["river@river.example.com"]}


def test_the_clock_skips_a_community_nobody_is_set_to_hear_from(engine):
    hire(engine, "qian")  # no email
    hire(engine, "sun", email="sun@lakeside.example.com", active=False)

    assert report_mail.send_due(engine, local(date(2026, 10, 4), 19), NOBODY_ELSE) == 0
    assert published(engine) == []


def test_a_manager_emails_a_report_to_their_own_address_with_no_setting(engine, tmp_path, monkeypatch):
    hire(engine, "m-1", email="li@lakeside.example.com")
    client, app = client_for(tmp_path, monkeypatch, engine, "")

    response = client.post("/api/v1/reports/email", json={"kind": "daily_progress", "community": COMMUNITY},
                           headers=manager_of(app))

    assert response.status_code == 202, response.get_json()
    assert response.get_json()["recipients"] == 1
    assert [e.payload["recipients"] for e in published(engine)] == [["li@lakeside.example.com"]]


def test_with_no_manager_email_and_no_setting_the_request_is_422_and_publishes_nothing(engine, tmp_path, monkeypatch):
    hire(engine, "m-1")  # the manager asking has no email on record
    hire(engine, "river", email="river@river.example.com", communities=(ELSEWHERE,))
    client, app = client_for(tmp_path, monkeypatch, engine, "")

    response = client.post("/api/v1/reports/email", json={"kind": "daily_progress", "community": COMMUNITY},
                           headers=manager_of(app))

    assert response.status_code == 422 and "community" in response.get_json()["errors"], response.get_json()
    assert set(response.get_json()) == {"code", "status", "message", "errors"}
    assert published(engine) == []


def test_sending_reports_logs_counts_never_addresses(engine, caplog):
    hire(engine, "li", email="li.na@lakeside.example.com")
    caplog.set_level(logging.DEBUG)
    settings = ReportMail(time(18, 0), {"*": ("ops.team@example.com",)})

    send_now(engine, settings)
    report_mail.send_due(engine, local(date(2026, 10, 4), 19), settings)

    assert len(published(engine)) == 5  # now, then the evening's two for each community (ops: "*")
    lines = "\n".join(JsonFormatter("cases").format(r) for r in caplog.records)
    assert "report emailed" in lines and "scheduled report emailed" in lines
    assert "li.na@" not in lines and "ops.team@" not in lines


def test_the_demo_has_a_manager_whose_address_gets_the_reports(tmp_path):
    engine = make_engine(migrated_database(tmp_path, "cases"))
    assert load_demo(engine, D) == 3

    with engine.connect() as connection:
        assert report_mail.recipients_of(connection, COMMUNITY, NOBODY_ELSE) == (MANAGER.email,)
        assert connection.execute(select(staff.c.role, staff.c.active).where(staff.c.email == MANAGER.email)).one() \
            == ("manager", True)
    assert load_demo(engine, D) == 0  # loading again adds no second manager
    engine.dispose()


def test_an_email_set_later_is_read_when_the_report_is_sent(engine):
    hire(engine, "li")
    assert recipients(engine) == ()

    with engine.begin() as connection:
        set_email(connection, "li", "Li@Lakeside.Example.com")

    assert recipients(engine) == ("li@lakeside.example.com",)
