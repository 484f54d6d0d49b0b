"""AsyncInferenceConfig from `byoc deploy`'s flags, and scaling on the backlog down to zero. Pure.

Contracts: SageMaker API reference, AsyncInferenceConfig (OutputConfig, NotificationConfig,
ClientConfig.MaxConcurrentInvocationsPerInstance 1-1000); "Autoscale an asynchronous endpoint"
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html), whose example
policies and alarm these requests reproduce field by field.
"""

from __future__ import annotations

import pytest

from deploy.async_inference import config
from deploy.aws.plan import async_scaling as scaling

TOPIC = "arn:aws:sns:us-east-1:123456789012:byoc-results"


def test_async_inference_config() -> None:
    settings = config.AsyncSettings(
        "s3://bucket/out/", "s3://bucket/errors/", 4, success_topic=TOPIC, error_topic=TOPIC + "-errors"
    )
    assert settings.request() == {
        "OutputConfig": {
            "S3OutputPath": "s3://bucket/out/",
            "S3FailurePath": "s3://bucket/errors/",
            "NotificationConfig": {"SuccessTopic": TOPIC, "ErrorTopic": TOPIC + "-errors"},
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }
    assert config.AsyncSettings("s3://bucket/out").request() == {
        "OutputConfig": {"S3OutputPath": "s3://bucket/out"}
    }
    assert config.from_aws(settings.request()) == settings
    assert config.from_aws(None) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (config.AsyncSettings("bucket/out"), "--async-output 'bucket/out' is not of the form"),
        (config.AsyncSettings("s3://bucket/out", "s3://B/x"), "--async-failure"),
        (config.AsyncSettings("s3://bucket/out", max_concurrent_per_instance=0), "1 to 1000"),
        (
            config.AsyncSettings("s3://bucket/out", success_topic="topic"),
            "--sns-success 'topic' is not an SNS",
        ),
    ],
)
def test_refused(settings: config.AsyncSettings, message: str) -> None:
    with pytest.raises(config.AsyncConfigError, match=message):
        settings.request()


def test_backlog_scaling_as_aws_documents_it() -> None:
    plan = scaling.BacklogScaling(min_capacity=0, max_capacity=5)
    assert scaling.scalable_target_request("ep", "AllTraffic", plan) == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/ep/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 0,
        "MaxCapacity": 5,
    }
    policy = scaling.backlog_policy_request("ep", "AllTraffic", plan)
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 5.0
    assert policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": "ep"}],
        "Statistic": "Average",
    }
    wake = scaling.wake_up_policy_request("ep", "AllTraffic", plan)
    assert wake["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ChangeInCapacity",
        "MetricAggregationType": "Average",
        "Cooldown": 300,
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
    }
    alarm = scaling.wake_up_alarm_request("ep", "AllTraffic", "arn:policy")
    assert {
        key: alarm[key] for key in ("MetricName", "Namespace", "Statistic", "Threshold", "ComparisonOperator")
    } == {
        "MetricName": "HasBacklogWithoutCapacity",
        "Namespace": "AWS/SageMaker",
        "Statistic": "Average",
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Period"]) == (2, 2, 60)
    assert alarm["TreatMissingData"] == "missing" and alarm["AlarmActions"] == ["arn:policy"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (scaling.BacklogScaling(-1, 2), "--min -1"),
        (scaling.BacklogScaling(0, 0), "--max 0"),
        (scaling.BacklogScaling(3, 2), "--max 2"),
        (scaling.BacklogScaling(0, 2, target_backlog_per_instance=0), "--target-backlog"),
    ],
)
def test_scaling_refused(plan: scaling.BacklogScaling, message: str) -> None:
    with pytest.raises(scaling.AsyncScalingError, match=message):
        plan.check()
