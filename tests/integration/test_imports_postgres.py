"""Imports on PostgreSQL: a 5,000-row ledger through the endpoint, twice, then the payments that clear it."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.cases.app import create_app
from services.cases.tables import cases, ledger_entries, outbox, owner_contacts, owners, payments, units
from shared.auth import issue_token
from tests import support
from tests.unit.sqlite_services import add_community, root_logging_kept, set_environment

pytestmark = pytest.mark.postgres
COMMUNITIES = ("lakeside-garden", "river-view", "pine-court")
OWNERS = 2500  # two fee periods each: 5,000 ledger rows
NOW = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)


def ledger_csv() -> bytes:
    """Every fourth owner still owes 2024; the 2025-H1 fee is not due yet for anyone."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["小区", "楼栋", "房号", "业主编号", "业主姓名", "电话", "邮箱", "语言", "核心业主", "费用期间",
                     "应收金额", "到期日", "已收金额"])
    for n in range(OWNERS):
        community, owes = COMMUNITIES[n % len(COMMUNITIES)], n % 4 == 0
        for period, due in (("2024", "2024-12-31"), ("2025-H1", "2025-06-30")):
            paid = "0" if owes or period == "2025-H1" else "1846.50"
            writer.writerow([community, str(n % 20 + 1), f"{n:05d}", f"O{n:05d}", "张伟", f"138{n:08d}",
                             f"owner{n}@example.com", "zh-CN", "yes" if n % 50 == 0 else "no", period,
                             "1846.50", due, paid])
    return ("\ufeff" + out.getvalue()).encode()


def payments_csv(numbers: range, amount: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["community", "building", "unit", "receipt", "amount", "paid_on"])
    for n in numbers:
        writer.writerow([COMMUNITIES[n % len(COMMUNITIES)], str(n % 20 + 1), f"{n:05d}", f"R{n:05d}-{amount}",
                         amount, "2025-02-28"])
    return out.getvalue().encode()


@pytest.fixture
def app(postgres_url, tmp_path, monkeypatch):
    support.migrate_postgres("cases", postgres_url)
    set_environment(monkeypatch, CASES_DATABASE_URL=postgres_url, DATA_DIR=str(tmp_path))
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: NOW})
    for community in COMMUNITIES:
        add_community(app.extensions["cases.db"], community)
    yield app
    app.extensions["cases.db"].dispose()


def upload(app, path: str, data: bytes) -> dict:
    token = issue_token(app.config["SECRET_KEY"], "wang.li", "manager", COMMUNITIES)
    # A raw text/csv body: werkzeug's test client leaves the temporary file of a large multipart body open.
    response = app.test_client().post(path, data=data, content_type="text/csv",
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def totals(app) -> dict[str, int]:
    with app.extensions["cases.db"].connect() as connection:
        return {table.name: connection.scalar(select(func.count()).select_from(table))
                for table in (owners, owner_contacts, units, ledger_entries, cases, payments, outbox)}


def test_a_5000_row_ledger_imports_once_and_the_same_file_again_changes_nothing(app):
    data = ledger_csv()

    first = upload(app, "/api/v1/imports/ledger", data)
    after_first = totals(app)
    again = upload(app, "/api/v1/imports/ledger", data)

    overdue = len(range(0, OWNERS, 4))
    assert (first["rows"], first["inserted"], first["bad"], first["cases_opened"]) == (5000, 5000, 0, overdue)
    assert after_first == {"owners": OWNERS, "owner_contacts": 2 * OWNERS, "units": OWNERS,
                           "ledger_entries": 5000, "cases": overdue, "payments": 0,
                           "outbox": 2 * overdue}  # case.opened and its first reminder
    assert (again["unchanged"], again["inserted"], again["updated"]) == (5000, 0, 0)
    assert (again["cases_opened"], again["cases_updated"], again["cases_closed"]) == (0, 0, 0)
    assert totals(app) == after_first
    with app.extensions["cases.db"].connect() as connection:
        owed = connection.scalar(select(func.sum(cases.c.amount_owed)).where(cases.c.status == "open"))
        key_owners = connection.scalar(select(func.count()).where(owners.c.key_owner.is_(True)))
    assert owed == Decimal("1846.50") * overdue
    assert key_owners == len(range(0, OWNERS, 50))


def test_payments_on_postgresql_reduce_then_close_cases_and_a_repeat_is_all_duplicates(app):
    upload(app, "/api/v1/imports/ledger", ledger_csv())
    overdue = range(0, OWNERS, 4)
    partial, rest = payments_csv(overdue, "846.50"), payments_csv(overdue, "1000.00")

    reduced = upload(app, "/api/v1/imports/payments", partial)
    closed = upload(app, "/api/v1/imports/payments", rest)
    repeat = upload(app, "/api/v1/imports/payments", rest)

    assert (reduced["inserted"], reduced["cases_updated"], reduced["cases_closed"]) \
        == (len(overdue), len(overdue), 0)
    assert (closed["inserted"], closed["cases_closed"]) == (len(overdue), len(overdue))
    assert (repeat["inserted"], repeat["unchanged"], repeat["cases_closed"]) == (0, len(overdue), 0)
    with app.extensions["cases.db"].connect() as connection:
        still_open = connection.scalar(select(func.count()).where(cases.c.status == "open"))
        closed_events = connection.scalar(select(func.count()).where(outbox.c.routing_key == "case.closed"))
    assert (still_open, closed_events) == (0, len(overdue))
    assert totals(app)["payments"] == 2 * len(overdue)
