"""Auto scaling of an async endpoint on its queue, down to zero instances. Pure.

"Autoscale an asynchronous endpoint" (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html):

- the scalable target may have MinCapacity 0 (async endpoints only);
- target tracking on ApproximateBacklogSizePerInstance (namespace AWS/SageMaker, dimension
  EndpointName, statistic Average), the documented example target being 5.0;
- from zero, target tracking alone starts an instance only once the backlog passes the target; the
  documented remedy is a step scaling policy (ChangeInCapacity +1, MetricIntervalLowerBound 0) that
  a CloudWatch alarm on HasBacklogWithoutCapacity (Average >= 1 over two 60 s periods) triggers.
  Of several policies on one target, the one asking for more capacity wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.aws.plan.scaling import SCALABLE_DIMENSION, resource_id, target_request

BACKLOG_METRIC = "ApproximateBacklogSizePerInstance"
NO_CAPACITY_METRIC = "HasBacklogWithoutCapacity"
NAMESPACE = "AWS/SageMaker"


class AsyncScalingError(ValueError):
    pass


@dataclass(frozen=True)
class BacklogScaling:
    min_capacity: int  # 0 allowed: scale to zero
    max_capacity: int
    target_backlog_per_instance: float = 5.0
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60
    wake_up_cooldown: int = 300  # the step policy's, from zero

    def check(self) -> BacklogScaling:
        if self.min_capacity < 0:
            raise AsyncScalingError(f"--min {self.min_capacity}: 0 or more")
        if self.max_capacity < max(self.min_capacity, 1):
            raise AsyncScalingError(f"--max {self.max_capacity}: at least 1 and at least --min")
        if self.target_backlog_per_instance <= 0:
            raise AsyncScalingError(f"--target-backlog {self.target_backlog_per_instance}: above 0")
        return self


def backlog_policy_name(endpoint: str, variant: str) -> str:
    return f"byoc-{endpoint}-{variant}-backlog"


def wake_up_policy_name(endpoint: str, variant: str) -> str:
    return f"byoc-{endpoint}-{variant}-HasBacklogWithoutCapacity"


def wake_up_alarm_name(endpoint: str, variant: str) -> str:
    return f"byoc-{endpoint}-{variant}-HasBacklogWithoutCapacity"


def scalable_target_request(endpoint: str, variant: str, scaling: BacklogScaling) -> dict:
    scaling.check()
    return target_request(endpoint, variant, scaling.min_capacity, scaling.max_capacity)


def backlog_policy_request(endpoint: str, variant: str, scaling: BacklogScaling) -> dict:
    scaling.check()
    return {
        "PolicyName": backlog_policy_name(endpoint, variant),
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(scaling.target_backlog_per_instance),
            "CustomizedMetricSpecification": {
                "MetricName": BACKLOG_METRIC,
                "Namespace": NAMESPACE,
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": scaling.scale_in_cooldown,
            "ScaleOutCooldown": scaling.scale_out_cooldown,
        },
    }


def wake_up_policy_request(endpoint: str, variant: str, scaling: BacklogScaling) -> dict:
    """The step scaling policy that starts one instance when requests wait and none is running."""
    scaling.check()
    return {
        "PolicyName": wake_up_policy_name(endpoint, variant),
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": scaling.wake_up_cooldown,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    }


def wake_up_alarm_request(endpoint: str, variant: str, policy_arn: str) -> dict:
    """The CloudWatch alarm on HasBacklogWithoutCapacity that triggers the step policy."""
    return {
        "AlarmName": wake_up_alarm_name(endpoint, variant),
        "MetricName": NO_CAPACITY_METRIC,
        "Namespace": NAMESPACE,
        "Statistic": "Average",
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
        "Period": 60,
        "AlarmActions": [policy_arn],
    }
