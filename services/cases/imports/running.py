"""One import from start to end: check every row, then apply the good ones or roll back."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Engine

from services.cases.imports.checking import Community, RowChecker, known_communities
from services.cases.imports.columns import LEDGER, PAYMENTS
from services.cases.imports.ledger import apply_ledger
from services.cases.imports.payments import apply_payments, with_units
from services.cases.imports.report import BadRow, ImportReport

log = logging.getLogger(__package__)  # named as before the split, so log searches still find it


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
            good = with_units(connection, good, report)
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
