"""Baseline C and I1/I2: a 100,000-row ledger CSV imported into the cases database, then again.

The rows go through the endpoint's own path minus HTTP (csv_rows -> run_import). The baseline
is what the same rows cost as one bare Core executemany into a plain table, measured right before.
"""
from __future__ import annotations

import csv
import io
import time
from datetime import UTC, date, datetime

from sqlalchemy import Column, Date, Engine, MetaData, Numeric, String, Table, func, insert, select

from services.cases import imports
from services.cases.tables import cases, ledger_entries, outbox
from shared.db import make_engine
from shared.migrations import upgrade
from tests import support
from tests.bench.common import BenchError, Deadline, Measurement, setting
from tests.unit.sqlite_services import add_community

HEADER = ("community", "building", "unit", "owner_ref", "owner_name", "phones", "emails", "locale",
          "key_owner", "fee_period", "amount_due", "due_date", "amount_paid")
PERIODS = (("2024", date(2024, 12, 31)), ("2025-H1", date(2025, 6, 30)))
NOW = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)  # 2024 is overdue, 2025-H1 is not due yet


def ledger_csv(total: int, communities: int) -> bytes:
    """`total` rows over `communities` communities: two fee periods per unit, one owner per unit.

    Every fifth owner still owes for 2024, so about a tenth of the units open a case.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(total):
        owner, (period, due) = divmod(n, len(PERIODS))[0], PERIODS[n % len(PERIODS)]
        community = f"bench-{owner % communities:03d}"
        phones = f"138{owner:08d}" + (f";139{owner:08d}" if owner % 3 == 0 else "")
        owes = owner % 5 == 0 and period == "2024"
        writer.writerow((community, str(owner // 1000 % 30 + 1), f"{owner:06d}", f"O{owner:07d}", "张伟",
                         phones, f"owner{owner}@example.com", "zh-CN", "no", period, "1846.50",
                         due.isoformat(), "0" if owes else "1846.50"))
    return ("\ufeff" + out.getvalue()).encode()  # as Excel saves "CSV UTF-8"


def baseline(engine: Engine, data: bytes) -> Measurement:
    """Bare SQLAlchemy Core: the same rows, unchecked, in one executemany into one plain table."""
    kinds = {"amount_due": Numeric(12, 2), "amount_paid": Numeric(12, 2), "due_date": Date}
    table = Table("bench_ledger_baseline", MetaData(),
                  *(Column(name, kinds.get(name, String(320))) for name in HEADER))
    table.create(engine)
    start = time.perf_counter()
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    rows = [{**row, "due_date": date.fromisoformat(row["due_date"])} for row in reader]
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
    seconds = time.perf_counter() - start
    table.drop(engine)
    return Measurement("C", "raw Core executemany, 1 plain table", len(rows), seconds)


def import_once(engine: Engine, data: bytes, key: str,
                scenario: str) -> tuple[Measurement, imports.ImportReport]:
    deadline = Deadline(scenario)
    start = time.perf_counter()
    report = imports.run_import(engine, imports.LEDGER, imports.csv_rows(io.BytesIO(data), imports.LEDGER),
                                now=NOW, actor="bench", may_import=lambda _: True)
    seconds = time.perf_counter() - start
    if deadline.remaining() == 0:  # one call cannot be cut short; a slow one still fails the run
        raise BenchError(f"{scenario}: {seconds:.0f}s, over the {deadline.seconds:.0f}s scenario limit")
    if report.bad:
        raise BenchError(f"{scenario}: {report.bad} bad rows, first {report.bad_rows[0]}")
    return Measurement(key, scenario, report.rows, seconds, baseline="C"), report


def round_(total: int, communities: int, results: list[Measurement]) -> None:
    data = ledger_csv(total, communities)
    with support.postgres_database() as url:
        upgrade(support.ROOT / "services" / "cases" / "migrations", url)
        engine = make_engine(url)
        try:
            for number in range(communities):
                add_community(engine, f"bench-{number:03d}")
            results.append(baseline(engine, data))
            first, report = import_once(engine, data, "I1", "our ledger import, first time")
            results.append(first)
            with engine.connect() as connection:
                events = connection.scalar(select(func.count()).select_from(outbox))
            again, repeat = import_once(engine, data, "I2", "our ledger import, same file again")
            results.append(again)
            check(engine, report, repeat, events, total)
        finally:
            engine.dispose()


def check(engine: Engine, first: imports.ImportReport, again: imports.ImportReport, events: int,
          total: int) -> None:
    """The numbers only count if the import did its job, and the repeat did nothing."""
    with engine.connect() as connection:
        entries = connection.scalar(select(func.count()).select_from(ledger_entries))
        opened = connection.scalar(select(func.count()).select_from(cases))
        events_after = connection.scalar(select(func.count()).select_from(outbox))
    if (first.inserted, entries, opened) != (total, total, first.cases_opened) or not opened:
        raise BenchError(f"first import: {first}; {entries} ledger rows, {opened} cases")
    if (again.unchanged, again.cases_opened, again.cases_updated, events_after) != (total, 0, 0, events):
        raise BenchError(f"re-import changed something: {again}; outbox {events} -> {events_after}")
    print(f"bench: ledger import: {first.cases_opened} cases opened, {events} events staged; "
          f"re-import {again.unchanged} unchanged", flush=True)


def run(results: list[Measurement]) -> None:
    """Import rounds on a throwaway cases database each (BENCH_IMPORT_ROWS, _COMMUNITIES, _ROUNDS)."""
    total = setting("BENCH_IMPORT_ROWS", 100_000)
    communities = setting("BENCH_IMPORT_COMMUNITIES", 100)
    rounds = setting("BENCH_IMPORT_ROUNDS", 1)
    print(f"bench: ledger import of {total} rows over {communities} communities, {rounds} round(s)",
          flush=True)
    for number in range(1, rounds + 1):
        round_(total, communities, results)
        print(f"bench: import round {number} of {rounds} done", flush=True)

