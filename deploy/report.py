"""Text output: tables, metric summaries, durations (pure functions)."""

from __future__ import annotations

import re
from datetime import timedelta

METRICS = (
    # name, statistic to total over the window, unit shown
    ("Invocations", "Sum", "count"),
    ("ModelLatency", "Average", "us"),
    ("OverheadLatency", "Average", "us"),
    ("Invocation4XXErrors", "Sum", "count"),
    ("Invocation5XXErrors", "Sum", "count"),
)


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain-text table: left-aligned text, right-aligned numbers, a rule under the header."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    return "\n".join(out)


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or value is None


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def parse_since(text: str) -> timedelta:
    """ "90s", "30m", "3h", "2d", "1h30m" -> timedelta; ValueError otherwise."""
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"--since {text!r}: a duration such as 30m, 3h, 2d or 1h30m")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delta > timedelta(days=455):
        raise ValueError(f"--since {text!r}: CloudWatch keeps metrics for 15 months at most")
    return delta


def period_for(window: timedelta) -> int:
    """A CloudWatch period (seconds, a multiple of 60) giving at most ~1440 datapoints."""
    seconds = max(60, int(window.total_seconds()) // 1440)
    return ((seconds + 59) // 60) * 60


def summarize(name: str, statistic: str, datapoints: list[dict]) -> dict:
    """One metric over the window: total (Sum metrics) or weighted average, max, datapoint count."""
    values = [point[statistic] for point in datapoints if statistic in point]
    if not values:
        return {"metric": name, "value": None, "max": None, "datapoints": 0}
    if statistic == "Sum":
        value = float(sum(values))
    else:
        counts = [point.get("SampleCount", 1.0) for point in datapoints if statistic in point]
        value = sum(v * c for v, c in zip(values, counts, strict=True)) / (sum(counts) or 1.0)
    maxima = [point.get("Maximum", point[statistic]) for point in datapoints if statistic in point]
    return {"metric": name, "value": value, "max": float(max(maxima)), "datapoints": len(values)}


def metrics_table(summaries: list[dict]) -> str:
    units = {name: (statistic, unit) for name, statistic, unit in METRICS}
    rows = []
    for summary in summaries:
        statistic, unit = units.get(summary["metric"], ("", ""))
        label = "total" if statistic == "Sum" else "average"
        rows.append([summary["metric"], label, summary["value"], summary["max"], unit, summary["datapoints"]])
    return table(["metric", "statistic", "value", "max", "unit", "datapoints"], rows)
