"""Imports of the centre's data: the ledger (owners, units, fee periods) and payments.

Every row is read and checked before anything is written. Good rows are applied in one
transaction and bad ones are reported by line; with `all_or_nothing` a single bad row stops the
whole import, and a dry run applies everything and rolls it back, so its counts say what would
happen. A ledger is applied set-wise (a few queries per community, not per row) so 100,000 rows
import in one call; applying the same file twice changes nothing the second time.
"""
from __future__ import annotations

import csv
import functools
import io
import itertools
import logging
import re
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, NamedTuple
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, validate
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from services.cases import accounts, ladder
from services.cases.contacts import usable_contacts
from services.cases.reminders import reminder_requests
from services.cases.schemas import e164
from services.cases.tables import (
    cases,
    communities,
    ledger_entries,
    outbox,
    owner_contacts,
    owners,
    payments,
    stage_moves,
    units,
)
from shared.envelope import new_event
from shared.events import LOCALES
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)
LEDGER, PAYMENTS = "ledger", "payments"
ALIASES = {
    "小区": "community", "楼栋": "building", "房号": "unit", "unit_number": "unit", "业主编号": "owner_ref",
    "业主姓名": "owner_name", "电话": "phones", "邮箱": "emails", "语言": "locale", "核心业主": "key_owner",
    "费用期间": "fee_period", "应收金额": "amount_due", "到期日": "due_date", "已收金额": "amount_paid",
    "收据号": "receipt", "金额": "amount", "缴费日期": "paid_on",
}
PROBLEMS = "_problems"  # key of a raw row carrying what was wrong before any column was read
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10**9)
CHUNK = 1000  # ids per IN (...) list and cases per batch of events: bounded statements and memory
WRITE_CHUNK = 10_000  # parameter sets per executemany
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SEPARATORS = re.compile(r"[;/；]")
_FLAGS = {"yes": True, "y": True, "1": True, "true": True, "是": True,
          "no": False, "n": False, "0": False, "false": False, "否": False}
_EMAIL = validate.Email(error="Not a valid email address.")


class ImportRefused(ValueError):
    """The file as a whole cannot be read (encoding, header): nothing in it is imported."""

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.errors = errors or {}


@dataclass(frozen=True)
class BadRow:
    line: int  # as the user sees it: in a CSV file the header is line 1; in JSON the first row is 1
    errors: dict[str, list[str]]


@dataclass
class ImportReport:
    kind: str
    dry_run: bool = False
    applied: bool = False
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # for payments: receipts already recorded (duplicates)
    bad: int = 0
    cases_opened: int = 0
    cases_updated: int = 0
    cases_closed: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)


# Reading ---------------------------------------------------------------------------------------

def columns_of(header: list[str], kind: str) -> list[str]:
    """Map a file's header (English or Chinese names) to our column names, or refuse it.

    A column with no name is left out (Excel keeps formatted empty columns); cells under it must be blank.
    """
    allowed = _SPECS[kind]
    names = [ALIASES.get(cell.strip(), cell.strip().lower()) for cell in header]
    problems = [f"Unknown column: {name!r}." for name in names if name and name not in allowed]
    twice = sorted({name for name in names if name and names.count(name) > 1})
    problems += [f"Column given twice: {name}." for name in twice]
    problems += [f"Missing column: {name}." for name in _REQUIRED[kind] if name not in names]
    if problems:
        raise ImportRefused("The header row is not usable.", {"header": problems})
    return names


def csv_rows(binary: IO[bytes], kind: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) from CSV bytes as Excel saves them (UTF-8, with or without a BOM)."""
    stream = binary if hasattr(binary, "read1") else io.BufferedReader(binary)
    # surrogateescape keeps undecodable bytes on their row, so a refusal can name the line.
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRefused("The file is empty.")
        _utf8(header, 1)
        names = columns_of(header, kind)
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num  # a quoted cell may span lines
            if not any(cell.strip() for cell in cells):
                continue
            _utf8(cells, start)
            row = dict(zip(names, cells, strict=False))
            if len(cells) > len(names):
                row[PROBLEMS] = {"_row": [f"{len(cells)} cells but {len(names)} columns."]}
            elif any(cell.strip() for name, cell in zip(names, cells, strict=False) if not name):
                row[PROBLEMS] = {"_row": ["A cell under a column with no name."]}
            row.pop("", None)
            yield start, row
    except csv.Error as exc:
        raise ImportRefused(f"Line {reader.line_num} is not valid CSV: {exc}.") from exc


def _utf8(cells: list[str], line: int) -> None:
    try:
        "".join(cells).encode("utf-8")
    except UnicodeEncodeError:
        raise ImportRefused(f"Line {line} is not UTF-8 text: save the file as 'CSV UTF-8'.") from None


def json_rows(items: list, kind: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (position, row) from the JSON API's rows: same columns, values as JSON scalars."""
    allowed = _SPECS[kind]
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield line, {PROBLEMS: {"_row": ["Not an object."]}}
            continue
        row, problems = {}, {}
        for key, value in item.items():
            name = ALIASES.get(key, key)
            if name not in allowed:
                problems[key] = ["Unknown field."]
            elif (text := _as_text(value)) is None:
                problems[name] = ["Not a text, number or boolean."]
            else:
                row[name] = text
        if problems:
            row[PROBLEMS] = problems
        yield line, row


def _as_text(value) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ";".join(value)  # phones and emails may come as lists
    return None


# Checking --------------------------------------------------------------------------------------

class LedgerRow(NamedTuple):
    line: int
    community: str
    building: str
    unit: str
    owner_ref: str | None
    owner_name: str
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    locale: str
    key_owner: bool
    fee_period: str
    amount_due: Decimal
    due_date: date
    amount_paid: Decimal

    @property
    def fee(self) -> tuple[Decimal, date, Decimal]:
        """What a ledger entry holds for the period, as entries_before has it after the id."""
        return self.amount_due, self.due_date, self.amount_paid


class PaymentRow(NamedTuple):
    line: int
    community: str
    building: str
    unit: str
    receipt: str
    amount: Decimal
    paid_on: date


def _text(limit: int, repeats: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > limit:
            raise ValidationError(f"Longer than {limit} characters.")
        return sys.intern(value) if repeats else value  # one copy of a community's name, not 100,000

    return parse


def _money(minimum: Decimal, inclusive: bool) -> Callable[[str], Decimal]:
    def parse(value: str) -> Decimal:
        if not _AMOUNT.fullmatch(value):
            raise ValidationError("Not an amount (digits, a point and at most 2 decimals).")
        amount = Decimal(value)
        if amount.as_tuple().exponent < -2:
            raise ValidationError("At most 2 decimal places.")
        if amount < minimum or (amount == minimum and not inclusive):
            raise ValidationError("Must not be negative." if inclusive else "Must be more than 0.")
        if amount >= MAX_AMOUNT:
            raise ValidationError("Too large.")
        return amount.quantize(CENT)

    return parse


def _day(value: str) -> date:
    if not _DATE.fullmatch(value):
        raise ValidationError("Not a date (YYYY-MM-DD).")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError("No such day.") from exc


def _addresses(normalise: Callable[[str], str], what: str) -> Callable[[str], tuple[str, ...]]:
    def parse(value: str) -> tuple[str, ...]:
        found, problems = [], []
        parts = [part.strip() for part in _SEPARATORS.split(value) if part.strip()]
        for position, part in enumerate(parts, start=1):
            try:
                found.append(normalise(part))
            except ValidationError as exc:
                prefix = f"{what} {position}: " if len(parts) > 1 else ""
                problems.extend(prefix + message for message in exc.messages)
        if problems:
            raise ValidationError(problems)
        return tuple(dict.fromkeys(found))

    return parse


def _email(value: str) -> str:
    if len(value) > 320:
        raise ValidationError("Longer than 320 characters.")
    return _EMAIL(value).lower()


def _locale(value: str) -> str:
    for locale in LOCALES:
        if value.lower() == locale.lower():
            return locale
    raise ValidationError(f"Must be one of {', '.join(LOCALES)}.")


def _flag(value: str) -> bool:
    try:
        return _FLAGS[value.lower()]
    except KeyError:
        raise ValidationError("Must be yes or no (1/0, true/false).") from None


# column: (required, parse, default when blank)
_SPECS = {
    LEDGER: {
        "community": (True, _text(64, repeats=True), None), "building": (True, _text(32, repeats=True), None),
        "unit": (True, _text(32), None), "owner_ref": (False, _text(64), None),
        "owner_name": (True, _text(200), None), "phones": (False, _addresses(e164, "Phone"), ()),
        "emails": (False, _addresses(_email, "Email"), ()), "locale": (False, _locale, "zh-CN"),
        "key_owner": (False, _flag, False), "fee_period": (True, _text(32, repeats=True), None),
        "amount_due": (True, _money(Decimal(0), inclusive=False), None), "due_date": (True, _day, None),
        "amount_paid": (False, _money(Decimal(0), inclusive=True), Decimal("0.00")),
    },
    PAYMENTS: {
        "community": (True, _text(64, repeats=True), None), "building": (True, _text(32, repeats=True), None),
        "unit": (True, _text(32), None), "receipt": (True, _text(64), None),
        "amount": (True, _money(Decimal(0), inclusive=False), None), "paid_on": (True, _day, None),
    },
}
_REPEATED = {"phones", "emails", "amount_due", "amount_paid", "due_date", "amount", "paid_on"}
_REQUIRED = {kind: tuple(name for name, (required, _, _) in spec.items() if required)
             for kind, spec in _SPECS.items()}


@dataclass(frozen=True)
class Community:
    today: date
    first_stage: ladder.Stage


class RowChecker:
    """Turn raw rows into typed rows, or into the reasons they are bad."""

    def __init__(self, kind: str, known: dict[str, Community], may_import: Callable[[str], bool]):
        self.kind, self.known, self.may_import = kind, known, may_import
        self.make = LedgerRow if kind == LEDGER else PaymentRow
        self.seen: dict[tuple, int] = {}  # a ledger's (unit, fee period) -> first line
        # An owner's phones come again on each of their fee periods, and checking one costs ~20 µs;
        # amounts and dates repeat on most rows. Each import remembers what it has already read.
        self.columns = [(name, required, functools.lru_cache(maxsize=1 << 17)(parse) if name in _REPEATED
                         else parse, default) for name, (required, parse, default) in _SPECS[kind].items()]

    def check(self, line: int, raw: dict[str, str]) -> tuple | BadRow:
        errors: dict[str, list[str]] = dict(raw.get(PROBLEMS) or {})
        if "_row" in errors:  # not a row at all, or its cells are shifted: the columns say nothing
            return BadRow(line, errors)
        values = {}
        for name, required, parse, default in self.columns:
            value = (raw.get(name) or "").strip()
            if not value:
                values[name] = default
                if required:
                    errors.setdefault(name, ["Missing."])
                continue
            try:
                values[name] = parse(value)
            except ValidationError as exc:
                values[name] = None
                errors.setdefault(name, []).extend(exc.messages)
        community = values["community"]
        if community and "community" not in errors:
            if community not in self.known:
                errors["community"] = ["Unknown community."]
            elif not self.may_import(community):
                errors["community"] = ["Not one of your communities."]
        errors.update(self._across(line, values, errors))
        return BadRow(line, errors) if errors else self.make(line, **values)

    def _across(self, line: int, values: dict, errors: dict) -> dict[str, list[str]]:
        if self.kind == PAYMENTS:
            known = self.known.get(values["community"])
            if values["paid_on"] and known and values["paid_on"] > known.today:
                return {"paid_on": ["A payment cannot be dated after today."]}
            return {}
        if values["amount_due"] and values["amount_paid"] and values["amount_paid"] > values["amount_due"]:
            return {"amount_paid": ["More than amount_due."]}
        if errors:
            return {}
        key = (values["community"], values["building"], values["unit"], values["fee_period"])
        first = self.seen.setdefault(key, line)
        if first != line:
            return {"fee_period": [f"Line {first} has the same unit and fee period."]}
        return {}


def known_communities(connection: Connection, now: datetime) -> dict[str, Community]:
    """Every community, with its own calendar day and first ladder stage."""
    return {
        row.id: Community(now.astimezone(ZoneInfo(row.timezone)).date(), ladder.ladder_for(row.ladder)[0])
        for row in connection.execute(select(communities.c.id, communities.c.timezone, communities.c.ladder))
    }


# Running ---------------------------------------------------------------------------------------

def run_import(engine: Engine, kind: str, rows: Iterable[tuple[int, dict[str, str]]], *, now: datetime,
               actor: str, may_import: Callable[[str], bool], dry_run: bool = False,
               all_or_nothing: bool = False) -> ImportReport:
    """Check every row, then apply the good ones in one transaction (rolled back for a dry run)."""
    report = ImportReport(kind, dry_run=dry_run)
    with engine.connect() as connection:
        known = known_communities(connection, now)
    good = _checked(kind, rows, known, may_import, report)  # reading the upload holds no connection
    with engine.connect() as connection, connection.begin() as transaction:
        if kind == PAYMENTS:
            good = _with_units(connection, good, report)
        report.bad_rows.sort(key=lambda bad: bad.line)
        report.bad = len(report.bad_rows)
        if good and not (all_or_nothing and report.bad):
            (apply_ledger if kind == LEDGER else apply_payments)(connection, good, known, actor, report)
            report.applied = not dry_run
        if not report.applied:
            transaction.rollback()
    # Counts only: rows carry names, phones and emails.
    log.info("import finished", extra={k: v for k, v in report.__dict__.items() if k != "bad_rows"})
    return report


def _checked(kind: str, rows: Iterable[tuple[int, dict[str, str]]], known: dict[str, Community],
             may_import: Callable[[str], bool], report: ImportReport) -> list:
    checker, good = RowChecker(kind, known, may_import), []
    for line, raw in rows:
        report.rows += 1
        checked = checker.check(line, raw)
        (report.bad_rows if isinstance(checked, BadRow) else good).append(checked)
    return good


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _execute_many(connection: Connection, statement, parameters: Iterable[dict]) -> None:
    """executemany in slices: a 100,000-row import never holds all its parameter sets at once."""
    parameters = iter(parameters)
    while batch := list(itertools.islice(parameters, WRITE_CHUNK)):
        connection.execute(statement, batch)


# Ledger ----------------------------------------------------------------------------------------

class _Owner(NamedTuple):
    community: str
    ref: str | None
    name: str
    locale: str
    key_owner: bool
    contact_status: str


class LedgerPlan:
    """What the database holds for a file's communities, and what it should hold after the file.

    Owners are found the way register.find_owner finds them: by owner_ref, else by any of their
    phones; a row whose owner is not found adds one. Later rows win, as row-by-row upserts would.
    """

    def __init__(self, connection: Connection, names: list[str], periods: set[str]):
        self.owners_before: dict[str, _Owner] = {}
        self.by_ref: dict[tuple[str, str], str] = {}
        self.by_phone: dict[tuple[str, str], str] = {}
        self.contacts: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for row in connection.execute(select(owners.c.id, owners.c.community, owners.c.external_ref,
                                             owners.c.name, owners.c.locale, owners.c.key_owner,
                                             owners.c.contact_status).where(owners.c.community.in_(names))):
            self.owners_before[row.id] = _Owner(*row[1:])
            if row.external_ref:
                self.by_ref[(row.community, row.external_ref)] = row.id
        for owner_id, community, channel, address in connection.execute(
                select(owner_contacts.c.owner_id, owners.c.community, owner_contacts.c.channel,
                       owner_contacts.c.address).join(owners, owners.c.id == owner_contacts.c.owner_id)
                .where(owners.c.community.in_(names))):
            self.contacts[owner_id].add((channel, address))
            if channel == "sms":
                self.by_phone.setdefault((community, address), owner_id)
        unit_rows = connection.execute(
            select(units.c.id, units.c.community, units.c.building, units.c.number, units.c.owner_id)
            .where(units.c.community.in_(names)))
        self.units_before = {(r.community, r.building, r.number): (r.id, r.owner_id) for r in unit_rows}
        entry = ledger_entries.c
        entries = (select(entry.id, entry.unit_id, entry.fee_period, entry.amount_due, entry.due_date,
                          entry.amount_paid)
                   .join(units, units.c.id == entry.unit_id).where(units.c.community.in_(names)))
        if len(periods) <= CHUNK:  # only the periods in the file: a community's history can be long
            entries = entries.where(ledger_entries.c.fee_period.in_(sorted(periods)))
        self.entries_before = {(r.unit_id, r.fee_period): (r.id, r.amount_due, r.due_date, r.amount_paid)
                               for r in connection.execute(entries)}
        self.owners: dict[str, _Owner] = {}
        self.new_contacts: list[tuple[str, str, str]] = []
        self.contacted: set[str] = set()  # owners given a phone or email they did not have
        self.unit_ids: dict[tuple[str, str, str], str] = {k: v[0] for k, v in self.units_before.items()}
        self.unit_owner: dict[tuple[str, str, str], str] = {}
        self.row_keys: list[tuple[str, tuple[str, str, str], tuple[str, str]]] = []

    def add(self, row: LedgerRow) -> None:
        community = row.community
        owner_id = (row.owner_ref and self.by_ref.get((community, row.owner_ref))) or next(
            (self.by_phone[(community, p)] for p in row.phones if (community, p) in self.by_phone), None)
        if owner_id is None:
            owner_id = str(uuid.uuid4())
        current = self.owners.get(owner_id) or self.owners_before.get(owner_id)
        ref = current.ref if current else None
        if row.owner_ref and row.owner_ref != ref:
            self.by_ref.pop((community, ref), None)
            ref = row.owner_ref
            self.by_ref[(community, ref)] = owner_id
        status = current.contact_status if current else "reachable"
        known = self.contacts[owner_id]
        for channel, address in [("sms", p) for p in row.phones] + [("email", e) for e in row.emails]:
            if (channel, address) not in known:
                known.add((channel, address))
                self.new_contacts.append((owner_id, channel, address))
                self.contacted.add(owner_id)
                status = "reachable"  # a new way to reach an owner makes them reachable again
            if channel == "sms":
                self.by_phone.setdefault((community, address), owner_id)
        self.owners[owner_id] = _Owner(community, ref, row.owner_name, row.locale, row.key_owner, status)
        unit = (community, row.building, row.unit)
        unit_id = self.unit_ids.setdefault(unit, str(uuid.uuid4()))
        self.unit_owner[unit] = owner_id
        self.row_keys.append((owner_id, unit, (unit_id, row.fee_period)))

    def write(self, connection: Connection, rows: list[LedgerRow],
              report: ImportReport) -> set[tuple[str, str]]:
        """Insert and update what differs from the database and count each row.

        Return the (community, owner) pairs whose cases need a look.
        """
        now = datetime.now(UTC)
        changed_owners = self._write_owners(connection, now)
        changed_units, touched = self._write_units(connection)
        entries = [(row, key, self.entries_before.get(key)) for row, (_, _, key) in zip(rows, self.row_keys,
                                                                                          strict=True)]
        _execute_many(connection, insert(ledger_entries), (
            {"id": str(uuid.uuid4()), "unit_id": key[0], "fee_period": key[1], "amount_due": row.amount_due,
             "due_date": row.due_date, "amount_paid": row.amount_paid}
            for row, key, before in entries if before is None))
        _execute_many(connection, update(ledger_entries).where(ledger_entries.c.id == bindparam("b_id")), (
            {"b_id": before[0], "amount_due": row.amount_due, "due_date": row.due_date,
             "amount_paid": row.amount_paid}
            for row, _, before in entries if before is not None and before[1:] != row.fee))
        for (row, _, before), (owner_id, unit, _) in zip(entries, self.row_keys, strict=True):
            if before is None:
                report.inserted += 1
            elif before[1:] != row.fee or owner_id in changed_owners or unit in changed_units:
                report.updated += 1
            else:
                report.unchanged += 1
        return touched | {(owner.community, owner_id) for owner_id, owner in self.owners.items()}

    def _write_owners(self, connection: Connection, now: datetime) -> set[str]:
        before = self.owners_before
        fresh = [i for i in self.owners if i not in before]
        changed = [i for i, o in self.owners.items() if i in before and o != before[i]]
        by_id = update(owners).where(owners.c.id == bindparam("b_id"))
        # Owner codes that move between owners must never collide mid-update: clear them first.
        _execute_many(connection, by_id.values(external_ref=None),
                      ({"b_id": i} for i in changed if self.owners[i].ref != before[i].ref))
        _execute_many(connection, by_id, ({"b_id": i, **self._columns(i)} for i in changed))
        _execute_many(connection, insert(owners), (
            {"id": i, "community": self.owners[i].community, **self._columns(i), "broken_promises": 0,
             "created_at": now} for i in fresh))
        _execute_many(connection, insert(owner_contacts), (
            {"owner_id": owner_id, "channel": channel, "address": address, "status": "ok", "updated_at": now}
            for owner_id, channel, address in self.new_contacts))
        return set(fresh) | set(changed) | self.contacted

    def _columns(self, owner_id: str) -> dict:
        owner = self.owners[owner_id]
        return {"external_ref": owner.ref, "name": owner.name, "locale": owner.locale,
                "key_owner": owner.key_owner, "contact_status": owner.contact_status}

    def _write_units(self, connection: Connection) -> tuple[set, set[tuple[str, str]]]:
        fresh, moved, touched = [], [], set()
        for unit, owner_id in self.unit_owner.items():
            before = self.units_before.get(unit)
            if before is None:
                fresh.append(unit)
            elif before[1] != owner_id:
                moved.append(unit)
                touched.add((unit[0], before[1]))  # the previous owner's arrears change too
        _execute_many(connection, insert(units), (
            {"id": self.unit_ids[u], "community": u[0], "building": u[1], "number": u[2],
             "owner_id": self.unit_owner[u]} for u in fresh))
        _execute_many(connection, update(units).where(units.c.id == bindparam("b_id")), (
            {"b_id": self.units_before[u][0], "owner_id": self.unit_owner[u]} for u in moved))
        return set(fresh) | set(moved), touched


def apply_ledger(connection: Connection, rows: list[LedgerRow], known: dict[str, Community], actor: str,
                 report: ImportReport) -> None:
    names = sorted({row.community for row in rows})
    plan = LedgerPlan(connection, names, {row.fee_period for row in rows})
    for row in rows:
        plan.add(row)
    touched: dict[str, list[str]] = defaultdict(list)
    for community, owner_id in sorted(plan.write(connection, rows, report)):
        touched[community].append(owner_id)
    refresh_cases(connection, touched, known, actor, report)


# Cases -----------------------------------------------------------------------------------------

def refresh_cases(connection: Connection, touched: dict[str, list[str]], known: dict[str, Community],
                  actor: str, report: ImportReport) -> None:
    """accounts.refresh_case for many owners at once: open, update or close each one's case."""
    same_day: dict[date, list[str]] = defaultdict(list)
    for community in touched:
        same_day[known[community].today].append(community)
    for today, names in same_day.items():  # one pass per calendar day, not one per community
        arrears = {(row[0], row[1]): (Decimal(row[2]).quantize(CENT), row[3]) for row in connection.execute(
            select(units.c.community, units.c.owner_id,
                   func.sum(ledger_entries.c.amount_due - ledger_entries.c.amount_paid),
                   func.min(ledger_entries.c.due_date))
            .join(units, units.c.id == ledger_entries.c.unit_id)
            .where(units.c.community.in_(names), ledger_entries.c.due_date < today,
                   ledger_entries.c.amount_paid < ledger_entries.c.amount_due)
            .group_by(units.c.community, units.c.owner_id))}
        open_cases = {(row.community, row.owner_id): row for row in connection.execute(
            select(cases.c.id, cases.c.community, cases.c.owner_id, cases.c.amount_owed, cases.c.due_date)
            .where(cases.c.community.in_(names), cases.c.status == "open"))}
        for community in names:
            _refresh(connection, community, touched[community], arrears, open_cases, known[community], actor,
                     report)


def _refresh(connection: Connection, community: str, owner_ids: list[str], arrears: dict, open_cases: dict,
             known: Community, actor: str, report: ImportReport) -> None:
    to_open, changed, to_close = [], [], []
    for owner_id in owner_ids:
        owed, oldest = arrears.get((community, owner_id), (accounts.ZERO, None))
        case = open_cases.get((community, owner_id))
        if case is None:
            if owed > accounts.ZERO:
                to_open.append((owner_id, owed, oldest))
        elif owed <= accounts.ZERO:
            to_close.append(case)
        elif (case.amount_owed, case.due_date) != (owed, oldest):
            changed.append({"b_id": case.id, "amount_owed": owed, "due_date": oldest})
    _execute_many(connection, update(cases).where(cases.c.id == bindparam("b_id")), changed)
    for batch in _chunks(to_open):
        _open_cases(connection, community, batch, known, actor)
    for batch in _chunks(to_close):
        _close_cases(connection, batch)
    report.cases_opened += len(to_open)
    report.cases_updated += len(changed)
    report.cases_closed += len(to_close)


def _open_cases(connection: Connection, community: str, batch: list[tuple], known: Community,
                actor: str) -> None:
    today, first, now = known.today, known.first_stage, datetime.now(UTC)
    ids = [owner_id for owner_id, _, _ in batch]
    people = {row.id: row for row in connection.execute(
        select(owners.c.id, owners.c.name, owners.c.locale).where(owners.c.id.in_(ids)))}
    contacts = usable_contacts(connection, ids)
    new_cases, moves, events = [], [], []
    for owner_id, owed, oldest in batch:
        case_id = str(uuid.uuid4())
        new_cases.append({"id": case_id, "owner_id": owner_id, "community": community, "amount_owed": owed,
                          "amount_recovered": accounts.ZERO, "status": "open", "stage": first.name,
                          "stage_entered_on": today, "due_date": oldest, "last_swept_on": today,
                          "opened_by": actor, "opened_at": now})
        moves.append({"case_id": case_id, "stage": first.name, "entered_on": today, "reason": "opened"})
        events.append(new_event("case.opened", {"case_id": case_id, "owner_id": owner_id,
                                                "community": community, "amount_owed": owed}))
        # As accounts.refresh_case does: the first reminder goes out with the opening.
        events.extend(reminder_requests(
            case_id=case_id, community=community, owner_id=owner_id, name=people[owner_id].name,
            locale=people[owner_id].locale, contacts=contacts.get(owner_id, {}), stage=first.name,
            template=first.template, channels=first.channels, sends=first.sends_per_day,
            amount_owed=owed, today=today,
        ))
    connection.execute(insert(cases), new_cases)
    connection.execute(insert(stage_moves), moves)
    add_to_outbox(connection, outbox, *events)


def _close_cases(connection: Connection, batch: list) -> None:
    connection.execute(
        update(cases).where(cases.c.id == bindparam("b_id")),
        [{"b_id": case.id, "status": "closed", "closed_reason": "paid", "closed_at": datetime.now(UTC),
          "amount_owed": accounts.ZERO} for case in batch],
    )
    add_to_outbox(connection, outbox, *[new_event("case.closed", {
        "case_id": case.id, "owner_id": case.owner_id, "reason": "paid"}) for case in batch])


# Payments --------------------------------------------------------------------------------------

class _Payment(NamedTuple):
    row: PaymentRow
    unit_id: str
    owner_id: str


def _with_units(connection: Connection, rows: list[PaymentRow], report: ImportReport) -> list[_Payment]:
    """Pair each payment with its unit; a payment for a unit we do not know is a bad row."""
    names = sorted({row.community for row in rows})
    found = {(r.community, r.building, r.number): (r.id, r.owner_id) for r in connection.execute(
        select(units.c.id, units.c.community, units.c.building, units.c.number, units.c.owner_id)
        .where(units.c.community.in_(names)))} if names else {}
    paired = []
    for row in rows:
        unit = found.get((row.community, row.building, row.unit))
        if unit is None:
            report.bad_rows.append(BadRow(row.line, {"unit": ["No such unit."]}))
        else:
            paired.append(_Payment(row, *unit))
    return paired


def apply_payments(connection: Connection, paid: list[_Payment], known: dict[str, Community], actor: str,
                   report: ImportReport) -> None:
    """Record each new receipt as accounts.record_payment does; a receipt seen before is a duplicate."""
    receipts: dict[str, set[str]] = defaultdict(set)
    for payment in paid:
        receipts[payment.row.community].add(payment.row.receipt)
    recorded = set()
    for community, refs in receipts.items():
        for batch in _chunks(sorted(refs)):
            recorded.update((community, ref) for ref in connection.execute(
                select(payments.c.external_ref).where(payments.c.community == community,
                                                      payments.c.external_ref.in_(batch))).scalars())
    owner_ids = sorted({p.owner_id for p in paid})
    before = _open_case_amounts(connection, owner_ids)
    for payment in paid:
        row = payment.row
        if (row.community, row.receipt) in recorded:
            report.unchanged += 1
            continue
        recorded.add((row.community, row.receipt))
        accounts.record_payment(connection, accounts.PaymentIn(
            community=row.community, unit_id=payment.unit_id, amount=row.amount, paid_on=row.paid_on,
            external_ref=row.receipt, source="import",
        ), known[row.community].today, actor)
        report.inserted += 1
    after = _open_case_amounts(connection, owner_ids)
    report.cases_opened += len(after.keys() - before.keys())
    report.cases_closed += len(before.keys() - after.keys())
    report.cases_updated += sum(1 for case_id in before.keys() & after.keys()
                                if before[case_id] != after[case_id])


def _open_case_amounts(connection: Connection, owner_ids: list[str]) -> dict[str, Decimal]:
    amounts = {}
    for batch in _chunks(owner_ids):
        amounts.update(connection.execute(select(cases.c.id, cases.c.amount_owed).where(
            cases.c.owner_id.in_(batch), cases.c.status == "open")).all())
    return amounts
