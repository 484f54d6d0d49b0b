"""Metrics of a local endpoint, named as CloudWatch names SageMaker's (deploy.endpoint_metrics): pure.

`Counters` is the bookkeeping the front keeps per endpoint (LocalEndpoints.metrics asks a running
front for it); `metrics_table` is how `byoc local metrics` and `byoc metrics --local` print it.
Latencies are in microseconds, as CloudWatch reports them: ModelLatency is the container's
own `X-Model-Latency-Us` (its time in the model), OverheadLatency is everything else between the
front receiving the request and answering it (the container's `X-Overhead-Latency-Us`, the hop to
the container, and the front's own time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from container.headers import MODEL_LATENCY_US, OVERHEAD_LATENCY_US
from deploy.endpoint_metrics import ERRORS_4XX, ERRORS_5XX, INVOCATIONS, MODEL_LATENCY, OVERHEAD_LATENCY
from deploy.tables import text_table


@dataclass
class Counters:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency_us_total: float = 0.0
    overhead_latency_us_total: float = 0.0
    model_latency_us_max: float = 0.0
    overhead_latency_us_max: float = 0.0
    timed: int = 0  # invocations with a latency sample (answered by a container)

    def record(self, status: int, model_us: float | None, overhead_us: float | None) -> None:
        """One invocation: the container's status (or the front's for a failure to reach one)."""
        self.invocations += 1
        if 400 <= status < 500:
            self.errors_4xx += 1
        elif status >= 500:
            self.errors_5xx += 1
        if model_us is not None and overhead_us is not None:
            self.timed += 1
            self.model_latency_us_total += model_us
            self.overhead_latency_us_total += overhead_us
            self.model_latency_us_max = max(self.model_latency_us_max, model_us)
            self.overhead_latency_us_max = max(self.overhead_latency_us_max, overhead_us)

    def snapshot(self) -> dict[str, float]:
        timed = self.timed or 1
        return {
            INVOCATIONS: float(self.invocations),
            MODEL_LATENCY: self.model_latency_us_total / timed if self.timed else 0.0,
            OVERHEAD_LATENCY: self.overhead_latency_us_total / timed if self.timed else 0.0,
            ERRORS_4XX: float(self.errors_4xx),
            ERRORS_5XX: float(self.errors_5xx),
            f"{MODEL_LATENCY}Maximum": self.model_latency_us_max,
            f"{OVERHEAD_LATENCY}Maximum": self.overhead_latency_us_max,
        }


def latencies(
    container_headers: Mapping[str, str], round_trip_us: float, front_total_us: float
) -> tuple[float, float]:
    """(ModelLatency, OverheadLatency) in microseconds for one answered invocation.

    Without the runtime's latency headers (another image), the whole round trip to the container
    counts as model latency, as CloudWatch's ModelLatency does.
    """
    lowered = {key.lower(): value for key, value in container_headers.items()}
    try:
        model = float(lowered[MODEL_LATENCY_US.lower()])
        container_overhead = float(lowered.get(OVERHEAD_LATENCY_US.lower(), "0"))
    except (KeyError, ValueError):
        return round_trip_us, max(front_total_us - round_trip_us, 0.0)
    hop = max(round_trip_us - model - container_overhead, 0.0)
    front_own = max(front_total_us - round_trip_us, 0.0)
    return model, container_overhead + hop + front_own


def metrics_table(values: Mapping[str, float]) -> str:
    """The metrics as `byoc local metrics` and `byoc metrics --local` print them: a row each."""
    return text_table(["metric", "value"], [[name, value] for name, value in values.items()])
