"""Ledger and payment imports: every row checked, bad rows reported by line, re-imports change nothing."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.cases.app import create_app
from services.cases.tables import (
    cases,
    ledger_entries,
    outbox,
    owner_contacts,
    owners,
    payments,
    stage_moves,
    units,
)
from shared.auth import issue_token
from shared.envelope import decode
from tests.unit.sqlite_services import (
    add_community,
    migrated_database,
    root_logging_kept,
    row_count,
    set_environment,
)

LEDGER = "/api/v1/imports/ledger"
PAYMENTS = "/api/v1/imports/payments"
NOW = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)  # noon in Shanghai: the 2024 fees are overdue
NOT_AN_AMOUNT = "Not an amount (digits, a point and at most 2 decimals)."
CHINESE = {"community": "小区", "building": "楼栋", "unit": "房号", "owner_ref": "业主编号", "owner_name": "业主姓名",
           "phones": "电话", "emails": "邮箱", "locale": "语言", "key_owner": "核心业主", "fee_period": "费用期间",
           "amount_due": "应收金额", "due_date": "到期日", "amount_paid": "已收金额", "receipt": "收据号",
           "amount": "金额", "paid_on": "缴费日期"}


def ledger_row(**changes) -> dict[str, str]:
    row = {"community": "lakeside-garden", "building": "3", "unit": "1201", "owner_ref": "O-1201",
           "owner_name": "王芳", "phones": "13800138001", "emails": "Wang.Fang@Example.com", "locale": "zh-CN",
           "key_owner": "no", "fee_period": "2024", "amount_due": "2860.00", "due_date": "2024-12-31",
           "amount_paid": "0"}
    return {**row, **changes}


def payment_row(**changes) -> dict[str, str]:
    row = {"community": "lakeside-garden", "building": "3", "unit": "1201", "receipt": "R-0001",
           "amount": "2860.00", "paid_on": "2025-02-28"}
    return {**row, **changes}


def csv_file(rows: list[dict[str, str]], bom: bool = False, header: dict[str, str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # as Excel writes it
    writer.writerow([(header or {}).get(name, name) for name in rows[0]])
    writer.writerows([list(row.values()) for row in rows])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "cases")
    set_environment(monkeypatch, CASES_DATABASE_URL=url, DATA_DIR=str(tmp_path))
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: NOW})
    for community in ("lakeside-garden", "river-view"):
        add_community(app.extensions["cases.db"], community)
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(app, role: str = "supervisor", communities: tuple[str, ...] = ("lakeside-garden",)) -> dict:
    token = issue_token(app.config["SECRET_KEY"], "zhang.min", role, communities)
    return {"Authorization": f"Bearer {token}"}


def upload(client, app, path: str, data: bytes, query: str = "", multipart: bool = True, **token):
    if multipart:
        body = {"data": {"file": (io.BytesIO(data), "ledger.csv")}, "content_type": "multipart/form-data"}
    else:
        body = {"data": data, "content_type": "text/csv"}
    return client.post(path + query, headers=bearer(app, **token), **body)


def imported(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def counts(report: dict) -> dict:
    keys = ("rows", "inserted", "updated", "unchanged", "bad")
    return {key: report[key] for key in (*keys, "cases_opened", "cases_updated", "cases_closed")}


def events(app) -> list[str]:
    with app.extensions["cases.db"].connect() as connection:
        return [decode(body).type for body in connection.execute(select(outbox.c.body).order_by(outbox.c.seq))
                .scalars()]


def stored(app) -> tuple[int, ...]:
    engine = app.extensions["cases.db"]
    return tuple(row_count(engine, t) for t in (owners, units, ledger_entries, cases, payments, outbox))


def open_case(app) -> dict:
    with app.extensions["cases.db"].connect() as connection:
        return dict(connection.execute(select(cases).where(cases.c.status == "open")).mappings().one())


def a_ledger(client, app, *rows: dict[str, str]) -> dict:
    return imported(upload(client, app, LEDGER, csv_file(list(rows or [ledger_row()]))))


# Reading the file ------------------------------------------------------------------------------

@pytest.mark.parametrize("bom", [True, False], ids=["utf8-bom", "utf8"])
@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "raw-text-csv"])
def test_a_ledger_csv_as_excel_saves_it_registers_owners_units_and_fees_and_opens_overdue_cases(
        app, client, bom, multipart):
    data = csv_file([ledger_row(phones="13800138001; +86 139 0013 9002"),
                     ledger_row(unit="1202", owner_ref="O-1202", owner_name="Li Qiang", phones="13800138003",
                                emails="", locale="en", key_owner="yes", due_date="2025-06-30")], bom=bom)

    report = imported(upload(client, app, LEDGER, data, multipart=multipart))

    assert counts(report) == {"rows": 2, "inserted": 2, "updated": 0, "unchanged": 0, "bad": 0,
                              "cases_opened": 1, "cases_updated": 0, "cases_closed": 0}
    assert report["applied"] is True and report["bad_rows"] == []
    with app.extensions["cases.db"].connect() as connection:
        people = {r.external_ref: r for r in connection.execute(select(owners))}
        contacts = {(r.channel, r.address) for r in connection.execute(select(owner_contacts))}
        entry = connection.execute(select(ledger_entries).join(units).where(units.c.number == "1201")).one()
    assert people["O-1201"].name == "王芳" and people["O-1202"].locale == "en" and people["O-1202"].key_owner
    assert contacts == {("sms", "+8613800138001"), ("sms", "+8613900139002"), ("sms", "+8613800138003"),
                        ("email", "wang.fang@example.com")}
    assert (entry.amount_due, entry.due_date, entry.amount_paid) \
        == (Decimal("2860.00"), date(2024, 12, 31), Decimal("0.00"))
    case = open_case(app)
    assert (case["owner_id"], case["amount_owed"], case["stage"]) == (people["O-1201"].id, Decimal("2860.00"),
                                                                     "reminder")
    assert events(app) == ["case.opened", "reminder.requested"]


def test_chinese_column_names_import_like_english_ones(app, client):
    data = csv_file([ledger_row(), ledger_row(unit="1202", owner_ref="O-1202", phones="13800138003")],
                    bom=True, header=CHINESE)

    report = imported(upload(client, app, LEDGER, data))

    assert (report["inserted"], report["bad"], report["cases_opened"]) == (2, 0, 2)


def test_json_rows_take_numbers_booleans_lists_and_chinese_keys(app, client):
    second = ledger_row(unit="1202", owner_ref="O-1202", phones="13800138003")
    rows = [{**ledger_row(), "amount_due": 2860, "key_owner": True, "phones": ["13800138001", "13900139002"]},
            {CHINESE[key]: value for key, value in second.items()}]

    report = imported(client.post(LEDGER, json={"rows": rows}, headers=bearer(app)))

    assert (report["inserted"], report["bad"]) == (2, 0)
    with app.extensions["cases.db"].connect() as connection:
        key_owner = select(owners.c.key_owner).where(owners.c.external_ref == "O-1201")
        assert connection.execute(key_owner).scalar() is True
        assert row_count(app.extensions["cases.db"], owner_contacts) == 5


# Bad rows --------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, column, reason", [
    pytest.param({"community": ""}, "community", "Missing.", id="community-missing"),
    pytest.param({"community": "nowhere"}, "community", "Unknown community.", id="community-unknown"),
    pytest.param({"community": "river-view"}, "community", "Not one of your communities.",
                 id="community-not-yours"),
    pytest.param({"building": "x" * 33}, "building", "Longer than 32 characters.", id="building-too-long"),
    pytest.param({"owner_name": " "}, "owner_name", "Missing.", id="name-blank"),
    pytest.param({"phones": "12345"}, "phones", "Not a valid phone number.", id="phone-too-short"),
    pytest.param({"phones": "call me"}, "phones", "Not a phone number.", id="phone-not-a-number"),
    pytest.param({"phones": "13800138001/12345"}, "phones", "Phone 2: Not a valid phone number.",
                 id="second-phone-bad"),
    pytest.param({"emails": "wang.fang@"}, "emails", "Not a valid email address.", id="email-invalid"),
    pytest.param({"locale": "fr"}, "locale", "Must be one of zh-CN, en.", id="locale-unknown"),
    pytest.param({"key_owner": "maybe"}, "key_owner", "Must be yes or no (1/0, true/false).",
                 id="flag-unclear"),
    pytest.param({"fee_period": ""}, "fee_period", "Missing.", id="period-missing"),
    pytest.param({"amount_due": "lots"}, "amount_due", NOT_AN_AMOUNT, id="amount-not-a-number"),
    pytest.param({"amount_due": "1,860.00"}, "amount_due", NOT_AN_AMOUNT, id="amount-thousands-separator"),
    pytest.param({"amount_due": "0"}, "amount_due", "Must be more than 0.", id="amount-zero"),
    pytest.param({"amount_due": "-5.00"}, "amount_due", "Must be more than 0.", id="amount-negative"),
    pytest.param({"amount_due": "10.005"}, "amount_due", "At most 2 decimal places.",
                 id="amount-three-places"),
    pytest.param({"amount_due": "1000000000"}, "amount_due", "Too large.", id="amount-too-large"),
    pytest.param({"amount_paid": "-1"}, "amount_paid", "Must not be negative.", id="paid-negative"),
    pytest.param({"amount_paid": "3000"}, "amount_paid", "More than amount_due.", id="paid-more-than-due"),
    pytest.param({"due_date": "2024/12/31"}, "due_date", "Not a date (YYYY-MM-DD).", id="date-slashes"),
    pytest.param({"due_date": "2024-02-30"}, "due_date", "No such day.", id="date-impossible"),
    pytest.param({"unit": "1201"}, "fee_period", "Line 2 has the same unit and fee period.",
                 id="same-unit-and-period-twice"),
])
def test_each_bad_ledger_row_is_reported_with_its_line_and_reason_and_good_rows_still_apply(
        app, client, changes, column, reason):
    good = ledger_row()
    bad = ledger_row(**{"unit": "1202", "owner_ref": "O-1202", "phones": "13800138003", **changes})

    report = imported(upload(client, app, LEDGER, csv_file([good, bad])))

    assert report["bad_rows"] == [{"line": 3, "errors": {column: [reason]}}]
    assert (report["rows"], report["inserted"], report["bad"], report["applied"]) == (2, 1, 1, True)
    assert row_count(app.extensions["cases.db"], ledger_entries) == 1


@pytest.mark.parametrize("changes, column, reason", [
    pytest.param({"receipt": ""}, "receipt", "Missing.", id="receipt-missing"),
    pytest.param({"amount": "0.00"}, "amount", "Must be more than 0.", id="amount-zero"),
    pytest.param({"paid_on": "2025-03-02"}, "paid_on", "A payment cannot be dated after today.",
                 id="paid-tomorrow"),
    pytest.param({"paid_on": "28/02/2025"}, "paid_on", "Not a date (YYYY-MM-DD).", id="date-day-first"),
    pytest.param({"unit": "9999"}, "unit", "No such unit.", id="unit-unknown"),
    pytest.param({"community": "river-view"}, "community", "Not one of your communities.", id="not-yours"),
])
def test_each_bad_payment_row_is_reported_with_its_line_and_reason(app, client, changes, column, reason):
    a_ledger(client, app)

    report = imported(upload(client, app, PAYMENTS, csv_file([
        payment_row(amount="100.00"), payment_row(**{"receipt": "R-0002", **changes})])))

    assert report["bad_rows"] == [{"line": 3, "errors": {column: [reason]}}]
    assert (report["inserted"], report["bad"]) == (1, 1)


def test_one_row_can_be_bad_for_several_reasons_at_once(app, client):
    bad = ledger_row(phones="12345", emails="nobody", amount_due="-1", due_date="soon")

    report = imported(upload(client, app, LEDGER, csv_file([ledger_row(unit="1202"), bad])))

    assert report["bad_rows"][0]["line"] == 3
    assert set(report["bad_rows"][0]["errors"]) == {"phones", "emails", "amount_due", "due_date"}


def test_lines_count_as_the_user_sees_them_across_blank_lines_and_quoted_line_breaks(app, client):
    first = csv_file([ledger_row(owner_name="王芳\n(北楼)")])  # the quoted name spans lines 2 and 3
    bad = csv_file([ledger_row(unit="1202", phones="12345")]).split(b"\r\n", 1)[1]

    report = imported(upload(client, app, LEDGER, first + b",,,,,,,,,,,,\r\n\r\n" + bad))

    assert report["bad_rows"] == [{"line": 6, "errors": {"phones": ["Not a valid phone number."]}}]
    assert report["rows"] == 2


def test_a_row_with_more_cells_than_columns_is_bad(app, client):
    shifted = b"lakeside-garden,3,1202,O-1202,Li,13800138003,,en,no,2024,1,2024-12-31,0,extra\r\n"
    data = csv_file([ledger_row()]) + shifted

    report = imported(upload(client, app, LEDGER, data))

    assert report["bad_rows"] == [{"line": 3, "errors": {"_row": ["14 cells but 13 columns."]}}]


@pytest.mark.parametrize("data, message", [
    pytest.param(b"", "The file is empty.", id="empty"),
    pytest.param("\ufeff".encode(), "The file is empty.", id="only-a-bom"),
    pytest.param(csv_file([ledger_row()]).replace(b"owner_name", b"owner"), "The header row is not usable.",
                 id="unknown-column"),
    pytest.param(csv_file([{k: v for k, v in ledger_row().items() if k != "amount_due"}]),
                 "The header row is not usable.", id="missing-column"),
    pytest.param(csv_file([ledger_row()]).replace(b"emails", b"phones"), "The header row is not usable.",
                 id="column-twice"),
    pytest.param(csv_file([ledger_row()]).decode().encode("gb18030"),
                 "Line 2 is not UTF-8 text: save the file as 'CSV UTF-8'.", id="saved-as-gbk"),
])
def test_a_file_that_cannot_be_read_is_refused_whole_and_nothing_is_written(app, client, data, message):
    response = upload(client, app, LEDGER, data)

    body = imported(response, 422)
    assert body["message"] == message
    assert stored(app) == (0, 0, 0, 0, 0, 0)


def test_a_header_problem_names_each_column(app, client):
    no_due_date = {key: value for key, value in ledger_row().items() if key != "due_date"}
    data = csv_file([no_due_date]).replace(b"owner_name", b"name")

    body = imported(upload(client, app, LEDGER, data), 422)

    assert body["errors"] == {"header": ["Unknown column: 'name'.", "Missing column: owner_name.",
                                         "Missing column: due_date."]}


def test_a_header_only_file_is_refused_as_having_no_rows(app, client):
    body = imported(upload(client, app, LEDGER, csv_file([ledger_row()]).split(b"\r\n")[0]), 422)

    assert body["message"] == "The import has no rows."


@pytest.mark.parametrize("request_kwargs, status", [
    pytest.param({"data": "a,b", "content_type": "text/plain"}, 415, id="text-plain"),
    pytest.param({"data": {"other": (io.BytesIO(b"x"), "x.csv")}, "content_type": "multipart/form-data"}, 422,
                 id="multipart-without-file"),
    pytest.param({"json": [ledger_row()]}, 422, id="json-array-not-rows"),
    pytest.param({"json": {"rows": [ledger_row()], "mode": "fast"}}, 422, id="json-unknown-key"),
])
def test_a_body_that_is_neither_csv_nor_rows_is_refused(app, client, request_kwargs, status):
    response = client.post(LEDGER, headers=bearer(app), **request_kwargs)

    assert set(imported(response, status)) == {"code", "status", "message", "errors"}
    assert stored(app) == (0, 0, 0, 0, 0, 0)


def test_a_json_row_that_is_not_an_object_or_has_unknown_fields_is_a_bad_row(app, client):
    rows = [ledger_row(), "O-1202", {**ledger_row(unit="1202"), "floor": "12", "owner_name": {"zh": "李"}}]

    report = imported(client.post(LEDGER, json={"rows": rows}, headers=bearer(app)))

    assert report["bad_rows"] == [
        {"line": 2, "errors": {"_row": ["Not an object."]}},
        {"line": 3, "errors": {"floor": ["Unknown field."],
                               "owner_name": ["Not a text, number or boolean."]}},
    ]


# What gets applied ---------------------------------------------------------------------------------

def test_all_or_nothing_refuses_the_whole_file_when_one_row_is_bad(app, client):
    data = csv_file([ledger_row(), ledger_row(unit="1202", amount_due="0")])

    body = imported(upload(client, app, LEDGER, data, query="?all_or_nothing=true"), 422)

    assert body["message"] == "1 of 2 rows are bad; nothing was imported."
    assert body["errors"] == {"3": {"amount_due": ["Must be more than 0."]}}
    assert stored(app) == (0, 0, 0, 0, 0, 0)


def test_all_or_nothing_applies_a_file_without_bad_rows(app, client):
    report = imported(upload(client, app, LEDGER, csv_file([ledger_row()]), query="?all_or_nothing=true"))

    assert (report["applied"], report["inserted"]) == (True, 1)


def test_a_file_of_only_bad_rows_is_refused_with_every_line(app, client):
    data = csv_file([ledger_row(amount_due="0"), ledger_row(due_date="")])

    body = imported(upload(client, app, LEDGER, data), 422)

    assert set(body["errors"]) == {"2", "3"}


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(app, client):
    data = csv_file([ledger_row(), ledger_row(unit="1202", phones="12345")])

    report = imported(upload(client, app, LEDGER, data, query="?dry_run=true"))

    assert (report["dry_run"], report["applied"]) == (True, False)
    assert counts(report) == {"rows": 2, "inserted": 1, "updated": 0, "unchanged": 0, "bad": 1,
                              "cases_opened": 1, "cases_updated": 0, "cases_closed": 0}
    assert stored(app) == (0, 0, 0, 0, 0, 0)


def test_reimporting_the_same_ledger_changes_nothing_and_announces_nothing(app, client):
    data = csv_file([ledger_row(), ledger_row(unit="1202", owner_ref="O-1202", phones="13800138003"),
                     ledger_row(fee_period="2025-H1", due_date="2025-06-30")])
    first = imported(upload(client, app, LEDGER, data))
    before = stored(app)

    again = imported(upload(client, app, LEDGER, data))

    assert (first["inserted"], first["cases_opened"]) == (3, 2)
    assert counts(again) == {"rows": 3, "inserted": 0, "updated": 0, "unchanged": 3, "bad": 0,
                             "cases_opened": 0, "cases_updated": 0, "cases_closed": 0}
    assert stored(app) == before


def test_a_changed_amount_updates_its_fee_period_and_the_owners_case(app, client):
    a_ledger(client, app)

    report = a_ledger(client, app, ledger_row(amount_due="3000.00"))

    assert (report["updated"], report["cases_updated"]) == (1, 1)
    assert open_case(app)["amount_owed"] == Decimal("3000.00")
    assert events(app) == ["case.opened", "reminder.requested"]


def test_a_ledger_showing_the_fee_paid_closes_the_case_and_tells_the_notifier(app, client):
    a_ledger(client, app)

    report = a_ledger(client, app, ledger_row(amount_paid="2860.00"))

    assert (report["updated"], report["cases_closed"]) == (1, 1)
    assert events(app)[-1] == "case.closed"


def test_an_owner_known_by_phone_is_the_same_owner_and_gets_the_owner_code(app, client):
    a_ledger(client, app, ledger_row(owner_ref=""))

    report = a_ledger(client, app,
                      ledger_row(fee_period="2025-H1", due_date="2025-06-30", owner_ref="O-1201"))

    assert report["inserted"] == 1
    with app.extensions["cases.db"].connect() as connection:
        assert connection.execute(select(owners.c.external_ref)).scalars().all() == ["O-1201"]


def test_owner_codes_may_move_between_owners_within_one_file(app, client):
    a_ledger(client, app, ledger_row(owner_ref="A", phones="13800138001"),
             ledger_row(unit="1202", owner_ref="B", phones="13800138002"))

    # B's owner comes first, so their new code A is written while A's owner may still hold it.
    report = a_ledger(client, app, ledger_row(unit="1202", owner_ref="B", phones="13800138002"),
                      ledger_row(owner_ref="C", phones="13800138001"),
                      ledger_row(unit="1202", owner_ref="A", phones="13800138002", fee_period="2025-H1",
                                 due_date="2025-06-30"))

    assert report["bad"] == 0
    with app.extensions["cases.db"].connect() as connection:
        codes = dict(connection.execute(select(owner_contacts.c.address, owners.c.external_ref)
                                        .join(owners, owners.c.id == owner_contacts.c.owner_id)
                                        .where(owner_contacts.c.channel == "sms")).all())
    assert codes == {"+8613800138001": "C", "+8613800138002": "A"}


def test_each_community_opens_cases_by_its_own_calendar_day(app, client):
    add_community(app.extensions["cases.db"], "hudson-yards", timezone="America/New_York")
    due = {"due_date": "2025-02-28", "fee_period": "2025-02"}
    rows = [ledger_row(**due), ledger_row(community="hudson-yards", owner_ref="O-9", phones="13700137009", **due)]

    report = imported(upload(client, app, LEDGER, csv_file(rows),
                             communities=("lakeside-garden", "hudson-yards")))

    # 04:00 UTC on 1 March is noon on 1 March in Shanghai, 23:00 on 28 February in New York.
    assert (report["inserted"], report["cases_opened"]) == (2, 1)
    assert open_case(app)["community"] == "lakeside-garden"


def test_contacts_are_added_never_dropped(app, client):
    a_ledger(client, app)

    report = a_ledger(client, app, ledger_row(phones="13800138001;13900139002", emails=""))

    assert report["updated"] == 1
    with app.extensions["cases.db"].connect() as connection:
        addresses = connection.execute(select(owner_contacts.c.address).order_by(owner_contacts.c.address))
        assert addresses.scalars().all() == ["+8613800138001", "+8613900139002", "wang.fang@example.com"]


def test_a_unit_sold_to_a_new_owner_moves_its_arrears_and_clears_the_sellers_case(app, client):
    a_ledger(client, app)

    report = a_ledger(client, app, ledger_row(owner_ref="O-9", owner_name="赵敏", phones="13700137009"))

    assert (report["updated"], report["cases_opened"], report["cases_closed"]) == (1, 1, 1)
    with app.extensions["cases.db"].connect() as connection:
        buyer = connection.execute(select(owners.c.id).where(owners.c.external_ref == "O-9")).scalar_one()
    assert open_case(app)["owner_id"] == buyer


# Payments ------------------------------------------------------------------------------------------

def test_a_payment_that_clears_a_case_closes_it_and_emits_case_closed(app, client):
    a_ledger(client, app)

    report = imported(upload(client, app, PAYMENTS, csv_file([payment_row()], bom=True)))

    assert (report["inserted"], report["cases_closed"]) == (1, 1)
    with app.extensions["cases.db"].connect() as connection:
        case = connection.execute(select(cases)).one()
    assert (case.status, case.closed_reason, case.amount_recovered) == ("closed", "paid", Decimal("2860.00"))
    assert events(app)[-2:] == ["case.closed", "payment.recorded"]


def test_a_partial_payment_reduces_what_is_owed_and_leaves_the_stage(app, client):
    a_ledger(client, app)
    before = open_case(app)
    data = csv_file([payment_row(amount="1000.00")], header=CHINESE)

    report = imported(upload(client, app, PAYMENTS, data))

    after = open_case(app)
    assert (report["inserted"], report["cases_updated"], report["cases_closed"]) == (1, 1, 0)
    assert (after["amount_owed"], after["amount_recovered"]) == (Decimal("1860.00"), Decimal("1000.00"))
    assert (after["stage"], after["stage_entered_on"]) == (before["stage"], before["stage_entered_on"])
    with app.extensions["cases.db"].connect() as connection:
        assert row_count(app.extensions["cases.db"], stage_moves) == 1
        assert connection.execute(select(ledger_entries.c.amount_paid)).scalar_one() == Decimal("1000.00")


def test_a_reimported_receipt_is_a_duplicate_not_a_second_payment(app, client):
    a_ledger(client, app)
    data = csv_file([payment_row(amount="1000.00")])
    imported(upload(client, app, PAYMENTS, data))
    before = stored(app)

    report = imported(upload(client, app, PAYMENTS, data))

    assert (report["inserted"], report["unchanged"]) == (0, 1)
    assert stored(app) == before
    assert open_case(app)["amount_owed"] == Decimal("1860.00")


def test_the_same_receipt_twice_in_one_file_counts_once(app, client):
    a_ledger(client, app)
    rows = [payment_row(amount="100"), payment_row(amount="100")]

    report = imported(client.post(PAYMENTS, json={"rows": rows}, headers=bearer(app)))

    assert (report["inserted"], report["unchanged"]) == (1, 1)
    assert open_case(app)["amount_owed"] == Decimal("2760.00")


# Who may import, and how much --------------------------------------------------------------------

@pytest.mark.parametrize("path", [LEDGER, PAYMENTS])
def test_a_collector_may_not_import(app, client, path):
    response = upload(client, app, path, csv_file([ledger_row()]), role="collector")

    assert imported(response, 403)["message"] == "Your role may not do this."
    assert stored(app) == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize("path", [LEDGER, PAYMENTS])
def test_an_import_without_a_token_is_refused(client, path):
    assert client.post(path, data=b"x", content_type="text/csv").status_code == 401


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_may_import(app, client, role):
    report = imported(upload(client, app, LEDGER, csv_file([ledger_row()]), role=role))

    assert report["inserted"] == 1


def test_another_communitys_rows_are_bad_rows_even_for_a_manager(app, client):
    data = csv_file([ledger_row(), ledger_row(community="river-view")])

    report = imported(upload(client, app, LEDGER, data, role="manager"))

    assert report["bad_rows"] == [{"line": 3, "errors": {"community": ["Not one of your communities."]}}]


def test_an_import_may_be_larger_than_the_apps_body_limit(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    data = csv_file([ledger_row(unit=f"{n:04d}", owner_ref=f"O-{n}", phones=f"138{n:08d}")
                     for n in range(20)])
    assert len(data) > 2000

    assert imported(upload(client, app, LEDGER, data))["inserted"] == 20


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "raw-text-csv"])
def test_an_import_over_its_own_limit_is_refused_with_413(app, client, multipart):
    app.config["IMPORT_MAX_CONTENT_LENGTH"] = 1000

    response = upload(client, app, LEDGER, csv_file([ledger_row()] * 20), multipart=multipart)

    imported(response, 413)
    assert stored(app) == (0, 0, 0, 0, 0, 0)
