"""`byoc metrics`: the window asked of CloudWatch, its period, and the summary of each metric (pure).

https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from deploy.aws.errors import UsageError

# CloudWatch keeps one-hour datapoints for 455 days (15 months).
RETENTION = timedelta(days=455)
MAX_DATAPOINTS = 1440


def parse_since(text: str) -> timedelta:
    """ "90s", "30m", "3h", "2d", "1h30m" -> timedelta; UsageError otherwise."""
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise UsageError(f"--since {text!r}: a duration such as 30m, 3h, 2d or 1h30m")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delta > RETENTION:
        raise UsageError(f"--since {text!r}: CloudWatch keeps metrics for 15 months at most")
    return delta


def period_for(window: timedelta) -> int:
    """A CloudWatch period (seconds, a multiple of 60) giving at most ~1440 datapoints."""
    seconds = max(60, int(window.total_seconds()) // MAX_DATAPOINTS)
    return ((seconds + 59) // 60) * 60


@dataclass(frozen=True)
class Summary:
    """One metric over the window: its total (Sum metrics) or weighted average, maximum, datapoints."""

    metric: str
    value: float | None
    max: float | None
    datapoints: int


def summarize(name: str, statistic: str, datapoints: list[dict]) -> Summary:
    values = [point[statistic] for point in datapoints if statistic in point]
    if not values:
        return Summary(name, None, None, 0)
    if statistic == "Sum":
        value = float(sum(values))
    else:
        counts = [point.get("SampleCount", 1.0) for point in datapoints if statistic in point]
        value = sum(v * c for v, c in zip(values, counts, strict=True)) / (sum(counts) or 1.0)
    maxima = [point.get("Maximum", point[statistic]) for point in datapoints if statistic in point]
    return Summary(name, value, float(max(maxima)), len(values))
