"""CloudWatch: an endpoint variant's datapoints of one metric; the alarm that wakes an async endpoint."""

from __future__ import annotations

from datetime import datetime

from deploy.endpoint_metrics import NAMESPACE


class CloudWatch:
    def __init__(self, client) -> None:
        self.client = client

    def datapoints(
        self,
        endpoint: str,
        variant: str,
        metric: str,
        statistic: str,
        start: datetime,
        end: datetime,
        period: int,
    ) -> list[dict]:
        """The datapoints in time order, each with `statistic`, Maximum and SampleCount."""
        statistics = sorted({statistic, "Maximum", "SampleCount"})
        answer = self.client.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=metric,
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ],
            StartTime=start,
            EndTime=end,
            Period=period,
            Statistics=statistics,
        )
        return sorted(answer.get("Datapoints", []), key=lambda point: point["Timestamp"])

    def put_alarm(self, request: dict) -> None:
        self.client.put_metric_alarm(**request)

    def delete_alarm(self, name: str) -> bool:
        """Delete an alarm; False when there was none of that name."""
        if not self.client.describe_alarms(AlarmNames=[name]).get("MetricAlarms"):
            return False
        self.client.delete_alarms(AlarmNames=[name])
        return True
