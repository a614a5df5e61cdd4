"""The columns of each kind of import: their English and Chinese names and how each is read."""
from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from marshmallow import ValidationError, validate

from services.cases.schemas import e164
from shared.events import LOCALES

LEDGER, PAYMENTS = "ledger", "payments"
ALIASES = {
    "小区": "community", "楼栋": "building", "房号": "unit", "unit_number": "unit", "业主编号": "owner_ref",
    "业主姓名": "owner_name", "电话": "phones", "邮箱": "emails", "语言": "locale", "核心业主": "key_owner",
    "费用期间": "fee_period", "应收金额": "amount_due", "到期日": "due_date", "已收金额": "amount_paid",
    "收据号": "receipt", "金额": "amount", "缴费日期": "paid_on",
}
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10**9)
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SEPARATORS = re.compile(r"[;/；]")
_FLAGS = {"yes": True, "y": True, "1": True, "true": True, "是": True,
          "no": False, "n": False, "0": False, "false": False, "否": False}
_EMAIL = validate.Email(error="Not a valid email address.")


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
SPECS = {
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
REPEATED = {"phones", "emails", "amount_due", "amount_paid", "due_date", "amount", "paid_on"}
REQUIRED = {kind: tuple(name for name, (required, _, _) in spec.items() if required)
            for kind, spec in SPECS.items()}
