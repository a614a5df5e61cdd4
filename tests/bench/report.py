"""Fold the rounds into one table: median rate, spread, and the ratio to the raw baseline."""
from __future__ import annotations

from statistics import median

from tests.bench.common import Measurement

HEADER = ("", "scenario", "messages", "rate (msg/s)", "min-max (msg/s)", "ratio to raw")


def summarise(results: list[Measurement]) -> list[tuple[Measurement, float, float, float]]:
    """One row per scenario, in first-seen order: (first measurement, median, min, max)."""
    rates: dict[str, list[float]] = {}
    first: dict[str, Measurement] = {}
    for m in results:
        rates.setdefault(m.key, []).append(m.rate)
        first.setdefault(m.key, m)
    return [(first[key], median(r), min(r), max(r)) for key, r in rates.items()]


def table(results: list[Measurement]) -> str:
    rows = summarise(results)
    medians = {m.key: rate for m, rate, _, _ in rows}
    lines = [HEADER]
    for m, rate, low, high in rows:
        base = m.baseline or m.key
        # The ratio of medians: both sides measured in the same rounds of the same run.
        ratio = f"{rate / medians[base]:.2f} x {base}" if base in medians else "n/a"
        runs = sum(1 for r in results if r.key == m.key)
        lines.append((m.key, m.scenario, f"{m.messages} x{runs}", f"{rate:,.0f}",
                      f"{low:,.0f}-{high:,.0f}", ratio))
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    text = []
    for n, line in enumerate(lines):
        text.append(" | ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ))
        if n == 0:
            text.append("-+-".join("-" * width for width in widths))
    return "\n".join(text)
