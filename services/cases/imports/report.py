"""What an import says back: how many rows did what, and which rows were bad and why."""
from __future__ import annotations

from dataclasses import dataclass, field


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
