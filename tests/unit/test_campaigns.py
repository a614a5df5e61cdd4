"""Campaigns: a time-boxed push with a higher cadence, and progress against its target."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.cases import accounts, domain, handlers
from services.cases.app import create_app
from services.cases.sweep import sweep
from services.cases.tables import outbox, units
from shared.auth import issue_token
from shared.envelope import decode
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment

COMMUNITY = "lakeside-garden"
TODAY = date(2025, 11, 10)
NOW = datetime(2025, 11, 10, 4, 0, tzinfo=UTC)  # noon in Shanghai


@pytest.fixture
def app(tmp_path, monkeypatch):
    set_environment(monkeypatch, CASES_DATABASE_URL=migrated_database(tmp_path, "cases"), DATA_DIR=str(tmp_path))
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: NOW})
    add_community(app.extensions["cases.db"], COMMUNITY)
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def manager(app):
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 'm1', 'manager', [COMMUNITY])}"}


def open_case(app, amount: str, unit: str, opened: date) -> str:
    with app.extensions["cases.db"].begin() as connection:
        return handlers.open_case(connection, domain.OpenCase(
            community=COMMUNITY, amount_owed=Decimal(amount), building="1", unit_number=unit,
            owner=domain.OwnerDetails(f"Owner {unit}", f"+86139000000{unit[-2:]}", None),
            due_date=opened - timedelta(days=1)), "test", opened)


def year_end_push(**changes) -> dict:
    return {"name": "年底冲刺", "starts_on": "2025-11-01", "ends_on": "2025-12-31", "sends_per_day": 2,
            "target_recovery_rate": "0.5000", "communities": [COMMUNITY], **changes}


def test_progress_is_what_came_in_during_the_campaign_over_the_arrears_in_play(app, manager):
    open_case(app, "1000.00", "101", date(2025, 10, 20))
    with app.extensions["cases.db"].begin() as connection:
        unit_id = connection.execute(select(units.c.id)).scalar_one()
        accounts.record_payment(connection, accounts.PaymentIn(
            COMMUNITY, unit_id, Decimal("100.00"), date(2025, 10, 25), "before", "staff"), TODAY, "t")
        accounts.record_payment(connection, accounts.PaymentIn(
            COMMUNITY, unit_id, Decimal("300.00"), date(2025, 11, 5), "during", "staff"), TODAY, "t")
    created = app.test_client().post("/api/v1/campaigns", json=year_end_push(), headers=manager)
    assert created.status_code == 201, created.get_json()
    progress = created.get_json()["progress"]
    # 300 came in during the push; 600 is still owed: 300 / 900.
    assert (progress["recovered"], progress["outstanding"], progress["recovery_rate"]) == ("300.00", "600.00", "0.3333")
    # 10 of 61 days in, the target pace is 0.5 * 10/61 = 0.082: well on track.
    assert progress["on_track"] is True and progress["days_elapsed"] == 10 and progress["running"] is True


def test_during_a_campaign_cases_are_reminded_daily_several_times(app, manager):
    open_case(app, "500.00", "101", date(2025, 11, 8))
    assert app.test_client().post("/api/v1/campaigns", json=year_end_push(), headers=manager).status_code == 201
    engine = app.extensions["cases.db"]
    with engine.connect() as connection:
        mark = connection.execute(select(outbox.c.seq).order_by(outbox.c.seq.desc())).scalars().first()
    sweep(engine, NOW)  # two days into the reminder stage: normally a quiet day (it repeats every 3)
    with engine.connect() as connection:
        bodies = connection.execute(select(outbox.c.body).where(outbox.c.seq > mark)).scalars().all()
    reminders = [decode(b).payload for b in bodies]
    assert [r["slot"] for r in reminders] == [0, 1]


@pytest.mark.parametrize(("changes", "field"), [
    ({"ends_on": "2025-10-01"}, "ends_on"),
    ({"sends_per_day": 9}, "sends_per_day"),
    ({"target_recovery_rate": "1.5"}, "target_recovery_rate"),
    ({"communities": []}, "communities"),
])
def test_a_campaign_that_makes_no_sense_is_refused(app, manager, changes, field):
    response = app.test_client().post("/api/v1/campaigns", json=year_end_push(**changes), headers=manager)
    assert response.status_code == 422 and field in response.get_json()["errors"]
