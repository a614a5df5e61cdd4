"""Render wording in a Jinja sandbox, and check a community's wording before it is saved.

Text (SMS, email text, letters) is rendered without escaping; the email HTML is built from the
rendered text by an autoescaping layout, so a name like `<script>` arrives as text.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from services.notifier.segments import measure
from services.notifier.templates.wording import EMAIL_SUBJECT, EMAIL_TEXT, OPT_OUT_HINT, SMS
from shared.config import ConfigError

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")
TEMPLATES = tuple(sorted({template for template, _ in SMS}))
CHANNELS = ("sms", "email")
# What wording may use: cases sends the amount and community; the notifier adds the rest.
VARIABLES = frozenset({"name", "amount", "community", "unit", "date"})
# Checked with a long realistic case. A Chinese name makes even English wording UCS-2.
SAMPLE = {
    "zh-CN": {"name": "欧阳晓明", "amount": "123456.78", "community": "lakeside-garden-phase-2",
              "unit": "12栋2单元1203室", "date": "2026年12月31日"},
    "en": {"name": "欧阳晓明", "amount": "123456.78", "community": "lakeside-garden-phase-2",
           "unit": "Building 12, Unit 2, Room 1203", "date": "31 December 2026"},
}

# The filters wording may use: none of them can make a text much longer than its input.
SAFE_FILTERS = ("default", "d", "upper", "lower", "title", "capitalize", "trim", "striptags", "string",
                "length", "first", "last", "join", "replace", "truncate")


class WordingSandbox(SandboxedEnvironment):
    """Jinja's sandbox, narrowed to what wording needs: filling in values, `if`, a few filters.

    The plain sandbox keeps templates from reaching Python's internals but not from computing:
    `{{ 'x' * 10**10 }}`, `{{ name.ljust(999999999) }}` or `{{ lipsum(10**6) }}` would make the web
    worker that checks a staff member's new wording build gigabytes. So no arithmetic, no calls (of
    functions or methods), no globals, and only the filters above.
    """

    intercepted_binops = frozenset(("+", "-", "*", "/", "//", "%", "**"))

    def __init__(self, **options):
        super().__init__(**options)
        self.globals.clear()
        self.filters = {name: self.filters[name] for name in SAFE_FILTERS}
        self.tests = {name: test for name, test in self.tests.items()
                      if name in ("defined", "undefined", "none", "number", "string", "eq", "ne", "in")}

    def call_binop(self, context, operator, left, right):
        raise SecurityError(f"wording may not compute (the {operator!r} operator)")

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        raise SecurityError("wording may not call functions or methods")


_lenient = WordingSandbox(autoescape=False)  # a value missing at send time renders empty
_strict = WordingSandbox(autoescape=False, undefined=StrictUndefined)
_html = Environment(autoescape=True)
_EMAIL_LAYOUT = _html.from_string(
    '<!doctype html>\n<html lang="{{ lang }}"><head><meta charset="utf-8"></head><body>\n'
    "{% for paragraph in paragraphs %}<p>{% for line in paragraph %}{{ line }}"
    "{% if not loop.last %}<br>{% endif %}{% endfor %}</p>\n{% endfor %}</body></html>\n"
)


@dataclass(frozen=True)
class Wording:
    body: str  # Jinja source
    subject: str | None = None  # Jinja source, email only


def supported(locale: str | None) -> str:
    return locale if locale in LOCALES else DEFAULT_LOCALE


def default_wording(template: str, channel: str, locale: str) -> Wording:
    locale = locale if (template, locale) in SMS else DEFAULT_LOCALE
    if channel == "sms":
        return Wording(SMS[(template, locale)])
    return Wording(EMAIL_TEXT[(template, locale)], EMAIL_SUBJECT[(template, locale)])


@lru_cache(maxsize=1024)
def _compiled(source: str):
    return _lenient.from_string(source)


def render_text(source: str, values: dict) -> str:
    return _compiled(source).render(values)


def with_opt_out_hint(text: str, locale: str) -> str:
    locale = supported(locale)
    return f"{text}{' ' if locale == 'en' else ''}{OPT_OUT_HINT[locale]}"


def render_sms(template: str, locale: str, values: dict, wording: Wording | None = None) -> str:
    wording = wording or default_wording(template, "sms", locale)
    return with_opt_out_hint(render_text(wording.body, values), locale)


def render_email(template: str, locale: str, values: dict, wording: Wording | None = None) -> tuple[str, str]:
    wording = wording or default_wording(template, "email", locale)
    subject = " ".join(render_text(wording.subject or "", values).split())
    return subject, render_text(wording.body, values)


def email_html(text: str, locale: str) -> str:
    """The HTML part of an email: its text, paragraph by paragraph, every character escaped."""
    paragraphs = [block.split("\n") for block in text.strip().split("\n\n") if block.strip()]
    return _EMAIL_LAYOUT.render(lang=supported(locale), paragraphs=paragraphs)


def sms_segment_limit(environ: dict[str, str] | None = None) -> int:
    """SMS_MAX_SEGMENTS: the most segments a saved SMS wording may take (default 3)."""
    raw = (os.environ if environ is None else environ).get("SMS_MAX_SEGMENTS", "").strip() or "3"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"SMS_MAX_SEGMENTS must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"SMS_MAX_SEGMENTS must be at least 1, not {value}")
    return value


def check_wording(channel: str, locale: str, wording: Wording, max_segments: int) -> dict[str, list[str]]:
    """What is wrong with a community's wording, field by field; empty when it may be saved."""
    errors: dict[str, list[str]] = {}
    fields = {"body": wording.body}
    if channel == "email":
        fields["subject"] = wording.subject or ""
        if not (wording.subject or "").strip():
            errors["subject"] = ["An email needs a subject."]
    elif wording.subject is not None:
        errors["subject"] = ["An SMS has no subject."]
    rendered = {}
    for field, source in fields.items():
        if field in errors:
            continue
        problem, text = _strict_render(source, SAMPLE[supported(locale)])
        if problem:
            errors[field] = [problem]
        else:
            rendered[field] = text
    if channel == "sms" and "body" in rendered:
        length = measure(with_opt_out_hint(rendered["body"], locale))
        if length.segments > max_segments:
            errors["body"] = [f"With the opt-out hint this SMS takes {length.segments} segments "
                              f"({length.units} {length.encoding} units); at most {max_segments} are allowed."]
    return errors


def _strict_render(source: str, values: dict) -> tuple[str | None, str]:
    try:
        parsed = _strict.parse(source)
        unknown = meta.find_undeclared_variables(parsed) - VARIABLES  # also names a filter wording may not use
    except TemplateSyntaxError as exc:
        return f"Not a valid template (line {exc.lineno}): {exc.message}", ""
    if unknown:
        return (f"Unknown variables: {', '.join(sorted(unknown))}. "
                f"Known: {', '.join(sorted(VARIABLES))}."), ""
    try:
        text = _strict.from_string(parsed).render(values)
    except TemplateError as exc:  # an undefined attribute, or the sandbox refused
        return f"The template does not render: {exc}", ""
    if not text.strip():
        return "The template renders nothing.", ""
    return None, text
