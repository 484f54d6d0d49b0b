"""`byoc metrics`: an endpoint's invocations, latencies and errors from CloudWatch, or a local
endpoint's from its front (--local)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deploy.aws.clients.session import Aws
from deploy.aws.errors import AwsError, UsageError
from deploy.aws.flows.autoscale import single_variant
from deploy.aws.output import metrics_table, say
from deploy.aws.plan.metrics import period_for, summarize
from deploy.endpoint_metrics import METRICS


@dataclass(frozen=True)
class MetricsRequest:
    endpoint: str
    window: timedelta  # up to now
    variant: str | None = None  # default: the endpoint's only variant
    plot: Path | None = None  # also draw the series into this PNG


def run(aws: Aws, request: MetricsRequest) -> int:
    endpoint = request.endpoint
    variant = request.variant or single_variant(aws, endpoint, None)
    end = datetime.now(UTC)
    start = end - request.window
    period = period_for(request.window)
    say(f"{endpoint}/{variant}, {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC, {period} s periods")
    summaries, series = [], {}
    for metric in METRICS:
        points = aws.cloudwatch.datapoints(
            endpoint, variant, metric.name, metric.statistic, start, end, period
        )
        summaries.append(summarize(metric.name, metric.statistic, points))
        series[metric.name] = [(p["Timestamp"], p[metric.statistic]) for p in points if metric.statistic in p]
    say(metrics_table(summaries))
    if request.plot:
        from deploy.aws.chart import plot_series  # matplotlib: only for --plot

        plot_series(series, request.plot, f"{endpoint}/{variant}")
        say(f"chart: {request.plot}")
    return 0


def run_local(name: str) -> int:
    """A local endpoint's metrics since its front started (byoc local up)."""
    try:
        from deploy.local.endpoints import LocalEndpoints
        from deploy.local.errors import LocalEndpointError
        from deploy.local.metrics import metrics_table as local_metrics_table
    except ImportError:  # httpx (the local extra) is not installed
        raise UsageError("local endpoints are not available in this installation (deploy.local)") from None
    try:
        values = LocalEndpoints().cloudwatch_metrics(name)
    except LocalEndpointError as exc:  # no such endpoint, or its front does not answer
        raise AwsError(f"local endpoint {name}: {exc}") from exc
    say(f"local endpoint {name} (since it started; latencies are averages in microseconds)")
    say(local_metrics_table(values))
    return 0
