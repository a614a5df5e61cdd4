"""The emailed reports (the 3-day report, the daily progress summary) as HTML and plain text.

Mail clients run no JavaScript and many draw no SVG, so the charts are table cells with inline
widths and colours, built from the same figures as the dashboard and the report endpoints.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.cases import reports

HERE = Path(__file__).parent
FLAGGED_COLOUR = "#c53030"
TARGET_COLOUR = "#d69e2e"
MAX_SUBJECT = 200  # what staff_report.requested carries


@dataclass(frozen=True)
class Email:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class Bar:
    label: str
    shown: str
    percent: int  # of the widest bar (0-100)
    colour: str | None = None


@dataclass
class Section:
    title: str
    note: str | None = None
    bars: list[Bar] | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """The dashboard's message catalogue: one set of words for the page and the emails."""
    return json.loads((HERE / "static" / "messages.json").read_text(encoding="utf-8"))


def words(locale: str) -> dict[str, str]:
    return catalogue().get(locale) or catalogue()["zh-CN"]


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def label(w: dict[str, str], kind: str, name: str) -> str:
    return w.get(f"{kind}.{name}", name)


def money(value) -> str:
    return f"{Decimal(value):,.2f}"


def percent(value) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.1f}%"


def bars(items: list[tuple[str, Decimal | int | None, str]], colours: list[str | None] | None = None) -> list[Bar]:
    """(label, value, shown) rows as bars scaled to the largest value."""
    widest = max((Decimal(v) for _, v, _ in items if v), default=Decimal(0))
    return [Bar(label, shown, int((Decimal(v) / widest * 100).to_integral_value()) if v and widest > 0 else 0,
                (colours or [None] * len(items))[n]) for n, (label, v, shown) in enumerate(items)]


def render(subject: str, locale: str, sections: list[Section]) -> Email:
    subject = subject if len(subject) <= MAX_SUBJECT else subject[:MAX_SUBJECT - 1] + "…"
    html = _environment().get_template("report_email.html").render(
        subject=subject, locale=locale, sections=sections, w=words(locale))
    return Email(subject, html, _text(subject, sections))


def _text(subject: str, sections: list[Section]) -> str:
    lines = [subject, "=" * len(subject)]
    for section in sections:
        lines += ["", section.title, "-" * len(section.title)]
        if section.note:
            lines.append(section.note)
        lines += [f"  {bar.label}: {bar.shown}" for bar in section.bars or ()]
        if section.header:
            lines.append("  " + " | ".join(section.header))
            lines += ["  " + " | ".join(row) for row in section.rows]
    return "\n".join(lines) + "\n"


def daily_progress(overview: dict) -> Email:
    """The daily summary from the dashboard's own figures (services.cases.dashboard.overview.gather)."""
    community, day = overview["community"], overview["date"]
    w = words(community["locale"])
    today: reports.Progress = overview["today"]
    headline = Section(w["today"], header=[w["recovered_today"], w["recovered_to_date"], w["arrears"],
                                           w["recovery_rate"], w["promises_kept"], w["promises_broken"],
                                           w["cases_closed"]],
                       rows=[[money(today.recovered), money(today.recovered_to_date), money(today.arrears),
                              percent(today.recovery_rate), str(today.promises_kept), str(today.promises_broken),
                              str(today.cases_closed)]])
    month = Section(f'{w["daily_recovered"]} ({w["recovered_month"]}: {money(overview["month"]["recovered"])})',
                    bars=bars([(d["date"].strftime("%m-%d"), d["recovered"], money(d["recovered"]))
                               for d in overview["month"]["days"]]))
    ranking = overview["ranking"]
    standings = ranking["collectors"]
    ranked = Section(w["ranking"], note=w["bottom_rule"].format(**ranking), bars=bars(
        [(f'{s["rank"] or "—"}. {s["name"]}', s["recovery_rate"],
          percent(s["recovery_rate"]) + (f' ⚑ {w["flagged"]}' if s["flagged"] else "")
          if s["rank"] is not None else w["unranked"]) for s in standings],
        [FLAGGED_COLOUR if s["flagged"] else None for s in standings]))
    sections = [headline, month, ranked, *_campaigns(overview["campaigns"], w)]
    return render(f'{w["email.daily_progress"]} · {community["name"]} · {day.isoformat()}', community["locale"],
                  sections)


def _campaigns(campaigns: list[dict], w: dict) -> list[Section]:
    return [Section(f'{w["campaign"]}: {c["name"]}', bars=bars([
        (w["recovery_rate"], c["progress"]["recovery_rate"], percent(c["progress"]["recovery_rate"])),
        (w["target"], c["progress"]["target_recovery_rate"], percent(c["progress"]["target_recovery_rate"])),
    ], [None, TARGET_COLOUR]), note=f'{w["on_track"] if c["progress"]["on_track"] else w["behind"]} · {w["days_elapsed"]} '
             f'{c["progress"]["days_elapsed"]}/{c["progress"]["days_total"]}') for c in campaigns]


def three_day(community: reports.Community, report: reports.PeriodicReport) -> Email:
    """The report for the meeting every three days, each figure beside the period before."""
    w = words(community.locale)
    period, previous = report.period, report.previous

    def shown(value):
        return money(value) if isinstance(value, Decimal) else str(value)

    trend = Section(w["email.trend"], note=f'{w["email.period"]}: {period.first} – {period.last}; '
                                           f'{w["email.previous"]}: {previous.first} – {previous.last}',
                    header=["", w["email.current"], w["email.previous"], w["email.change"]],
                    rows=[[label(w, "figure", t.figure), shown(t.current), shown(t.previous),
                           ("+" if t.change > 0 else "") + shown(t.change)] for t in report.trend])
    issues = Section(w["issues"], bars=bars([
        (label(w, "category", i.category), i.open_at_end,
         f'{w["open"]} {i.open_at_end} · {w["opened"]} {i.opened}') for i in report.issues
        if i.opened or i.open_at_end]))
    funnel = Section(w["funnel"], bars=bars([
        (label(w, "stage", s.stage), s.conversion, f'{percent(s.conversion)} ({s.paid_in_time}/{s.reached})')
        for s in report.funnel]))
    breached = Section(w["email.breached_deadlines"], header=[w["category"], w["case"], w["deadline"]], rows=[
        [label(w, "category", b.category), b.case_id or "—",
         b.deadline_at.astimezone(community.timezone).strftime("%Y-%m-%d %H:%M")] for b in report.breached])
    broken = Section(w["email.broken_promises"], header=[w["case"], w["promised_date"], w["amount"], w["broken_on"]],
                     rows=[[p.case_id, str(p.promised_date), money(p.amount), str(p.broken_on)]
                           for p in report.broken_promises])
    return render(f'{w["email.three_day"]} · {community.name} · {period.first} – {period.last}', community.locale,
                  [trend, issues, funnel, breached, broken])
