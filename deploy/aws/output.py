"""What the AWS commands print: progress on stderr, results on stdout, tables and descriptions.

Results (what a script may read) go to stdout with `say`; waiting goes to stderr through
Progress: one updating line on a terminal, otherwise a line per status change and every
`report_every` seconds.
"""

from __future__ import annotations

import sys
from typing import TextIO

from deploy.aws.plan.endpoints import Capacity
from deploy.aws.plan.metrics import Summary
from deploy.endpoint_metrics import METRICS
from deploy.tables import text_table


def say(message: str) -> None:
    print(message, flush=True)


def complain(command: str, message: str) -> None:
    """A failure, on stderr, prefixed with the command (`byoc deploy: ...`)."""
    print(f"byoc {command}: {message}", file=sys.stderr, flush=True)


def format_elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    """One updating line on a TTY; otherwise a line per status change and every `report_every` s."""

    def __init__(self, label: str, stream: TextIO | None = None, report_every: float = 30.0) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.report_every = report_every
        self._last_status: str | None = None
        self._last_report = float("-inf")
        self._width = 0

    def update(self, status: str, elapsed: float) -> None:
        line = f"{self.label}: {status} ({format_elapsed(elapsed)})"
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = max(self._width, len(line))
            self.stream.flush()
        elif status != self._last_status or elapsed - self._last_report >= self.report_every:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last_report = elapsed
        self._last_status = status

    def finish(self, status: str, elapsed: float) -> None:
        line = f"{self.label}: {status} after {format_elapsed(elapsed)}"
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width) + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def describe_capacity(capacity: Capacity) -> str:
    if capacity.serverless:
        return (
            f"serverless, {capacity.serverless_memory_mb} MB, at most "
            f"{capacity.serverless_concurrency} concurrent invocations"
        )
    return f"{capacity.instance_count} x {capacity.instance_type}"


def metrics_table(summaries: list[Summary]) -> str:
    """CloudWatch's metrics over a window: total or average, maximum, unit, datapoints."""
    known = {metric.name: metric for metric in METRICS}
    rows = []
    for summary in summaries:
        metric = known.get(summary.metric)
        statistic = "total" if metric and metric.statistic == "Sum" else "average"
        unit = metric.unit if metric else ""
        rows.append([summary.metric, statistic, summary.value, summary.max, unit, summary.datapoints])
    return text_table(["metric", "statistic", "value", "max", "unit", "datapoints"], rows)
