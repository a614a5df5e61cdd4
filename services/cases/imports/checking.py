"""Typed rows out of raw ones, or the reasons a row is bad."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from marshmallow import ValidationError
from sqlalchemy import Connection, select

from services.cases import ladder
from services.cases.imports.columns import LEDGER, PAYMENTS, REPEATED, SPECS
from services.cases.imports.reading import PROBLEMS
from services.cases.imports.report import BadRow
from services.cases.tables import communities


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
        self.columns = [(name, required, functools.lru_cache(maxsize=1 << 17)(parse) if name in REPEATED
                         else parse, default) for name, (required, parse, default) in SPECS[kind].items()]

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
