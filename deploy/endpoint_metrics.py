"""The endpoint metrics byoc shows, named and aggregated as SageMaker publishes them (pure).

CloudWatch namespace AWS/SageMaker, dimensions EndpointName and VariantName; latencies in
microseconds (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
`byoc metrics` reads them from CloudWatch; a local endpoint's front counts the same ones
(deploy.local.metrics), so one name means one thing in both places.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "AWS/SageMaker"

INVOCATIONS = "Invocations"
MODEL_LATENCY = "ModelLatency"
OVERHEAD_LATENCY = "OverheadLatency"
ERRORS_4XX = "Invocation4XXErrors"
ERRORS_5XX = "Invocation5XXErrors"


@dataclass(frozen=True)
class Metric:
    name: str
    statistic: str  # what sums up a window: Sum (counts) or Average (latencies)
    unit: str  # as shown


METRICS = (
    Metric(INVOCATIONS, "Sum", "count"),
    Metric(MODEL_LATENCY, "Average", "us"),
    Metric(OVERHEAD_LATENCY, "Average", "us"),
    Metric(ERRORS_4XX, "Sum", "count"),
    Metric(ERRORS_5XX, "Sum", "count"),
)
NAMES = tuple(metric.name for metric in METRICS)
