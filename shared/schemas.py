"""marshmallow building blocks used at every edge: strict by default."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import available_timezones

from marshmallow import RAISE, Schema, ValidationError, fields, validate

# Days and instants a request may name. Outside these, date arithmetic (a report's period, the
# day after a promise) can run off the calendar, and nothing the service centre does is there.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
IN_CALENDAR = validate.Range(min=FIRST_DAY, max=LAST_DAY, error="Give a day from 2000-01-01 to 2099-12-31.")
IN_CALENDAR_AT = validate.Range(min=datetime(2000, 1, 1, tzinfo=UTC), max=datetime(2100, 1, 1, tzinfo=UTC),
                                max_inclusive=False, error="Give a time from 2000 to 2099.")
MAX_PAGE = 1_000_000  # a page number beyond this is no page (and its offset no database integer)


class StrictSchema(Schema):
    """Reject unknown fields; nested schemas must subclass this too (Meta is not inherited by nesting)."""

    class Meta:
        unknown = RAISE


def page_field() -> fields.Int:
    return fields.Int(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def known_timezone(name: str) -> None:
    """An IANA timezone, checked against the list: a name is never opened as a path (a directory or
    an over-long name would raise OSError from ZoneInfo)."""
    if name not in _timezones():
        raise ValidationError("Not an IANA timezone.")


def document_fields(api) -> None:
    """Describe fields in the OpenAPI document as they travel and as they are checked.

    - apispec writes a Decimal's bounds with the field itself, so they came out as strings
      ("minimum": "0.00"), which no JSON Schema accepts; a Decimal answered `as_string` is a
      string, not a number.
    - A bound the Range leaves out (`min_inclusive=False`) is exclusive (OpenAPI 3.0: a boolean).
    - A day limited to IN_CALENDAR says so with a pattern (JSON Schema cannot bound a date).

    Call before registering blueprints.
    """

    def edges2properties(self, field, ret, **_kwargs):
        more = {}
        if isinstance(field, fields.Decimal):
            if field.as_string:
                for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "default"):
                    ret.pop(key, None)
                return {"type": "string", "format": "decimal"}
            more = {key: _number(ret[key]) for key in ("minimum", "maximum", "default")
                    if isinstance(ret.get(key), (Decimal, str))}
        if isinstance(field, fields.Number):
            for rule in field.validators:
                if isinstance(rule, validate.Range):
                    if rule.min is not None and not rule.min_inclusive:
                        more["exclusiveMinimum"] = True
                    if rule.max is not None and not rule.max_inclusive:
                        more["exclusiveMaximum"] = True
        if isinstance(field, fields.Date) and IN_CALENDAR in field.validators:
            more["pattern"] = DAY_IN_CALENDAR
        return more

    api.ma_plugin.converter.add_attribute_function(edges2properties)


DAY_IN_CALENDAR = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _number(value) -> int | float:
    number = Decimal(value)
    return int(number) if number == number.to_integral_value() else float(number)


class JsonBool(fields.Boolean):
    """true or false in a JSON body, and nothing else: marshmallow's Boolean also takes 0, 1, "yes",
    "off"..., which the API documents as a boolean and should refuse. (Query strings keep Boolean.)"""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
