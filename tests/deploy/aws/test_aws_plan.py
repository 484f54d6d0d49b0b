"""The requests the AWS commands send, built from typed values (pure: no AWS)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from deploy.aws.errors import UsageError
from deploy.aws.output import metrics_table
from deploy.aws.plan import endpoints as plan
from deploy.aws.plan import metrics, naming, scaling
from deploy.sagemaker_names import validate_name


def test_generated_names_are_valid_unique_and_tied_to_the_endpoint() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert naming.generate_name("ep", "m", now=now, token="abcd") == "ep-m-20260102-030405-abcd"
    long = "e" * 62 + "-x"
    generated = {naming.generate_name(long, "c") for _ in range(50)}
    assert len(generated) == 50
    for name in generated:
        assert len(name) <= 63
        assert validate_name(name)
        assert naming.belongs_to(name, long)
    assert not naming.belongs_to("other-m-20260102-030405-abcd", "ep")
    # an endpoint prefix that ends in "-" after truncation still gives a valid name
    assert validate_name(naming.generate_name("a" * 39 + "-" + "b" * 20, "m"))
    with pytest.raises(ValueError):
        naming.generate_name("ep", "x")


def test_model_request() -> None:
    request = plan.model_request(
        "m", endpoint="ep", image="img:1", model_data="s3://b/k", role="arn:aws:iam::1:role/r", env={"A": "1"}
    )
    assert request["PrimaryContainer"] == {
        "Image": "img:1",
        "Mode": "SingleModel",
        "ModelDataUrl": "s3://b/k",
        "Environment": {"A": "1"},
    }
    assert request["Tags"] == [{"Key": naming.ENDPOINT_TAG, "Value": "ep"}]
    with pytest.raises(UsageError, match="IAM role ARN"):
        plan.model_request("m", endpoint="ep", image="i", model_data=None, role="my-role", env={})


def test_instance_and_serverless_configs() -> None:
    instances = plan.endpoint_config_request(
        "c", endpoint="ep", model_name="m", capacity=plan.Capacity("ml.c5.xlarge", 2)
    )
    variant = instances["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.c5.xlarge"
    assert variant["InitialInstanceCount"] == 2
    assert variant["VariantName"] == "AllTraffic"
    assert "DataCaptureConfig" not in instances

    serverless = plan.endpoint_config_request(
        "c",
        endpoint="ep",
        model_name="m",
        capacity=plan.Capacity(None, serverless_memory_mb=2048, serverless_concurrency=5),
        data_capture=plan.DataCapture("s3://b/capture", 20).config(),
    )
    variant = serverless["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant
    assert serverless["DataCaptureConfig"]["InitialSamplingPercentage"] == 20


@pytest.mark.parametrize(
    ("capacity", "message"),
    [
        (plan.Capacity("ml.m5.large", 0), "at least 1"),
        (plan.Capacity("m5.large", 1), "SageMaker type"),
        (plan.Capacity(None, serverless_memory_mb=1000, serverless_concurrency=1), "1024"),
        (plan.Capacity(None, serverless_memory_mb=2048, serverless_concurrency=0), "1 to 200"),
        (plan.Capacity(None, serverless_memory_mb=2048), "both"),
    ],
)
def test_capacity_errors(capacity: plan.Capacity, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        capacity.validate()


def test_capacity_from_a_running_variant() -> None:
    variant = {"VariantName": "v", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    assert plan.capacity_from_variant(variant, instance_count=3) == plan.Capacity("ml.m5.large", 3)
    serverless = {"ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2}}
    assert plan.capacity_from_variant(serverless).serverless
    assert plan.instance_type_changes(variant, plan.Capacity("ml.c5.large"))
    assert not plan.instance_type_changes(variant, plan.Capacity("ml.m5.large", 4))


def test_deployment_configs() -> None:
    assert plan.deployment_config("all-at-once") is None
    canary = plan.deployment_config("canary", percent=10, wait_seconds=60, alarms=["high-5xx"])
    routing = canary["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 60,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
    }
    assert canary["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "high-5xx"}]}
    linear = plan.deployment_config("linear", percent=25)
    assert linear["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["LinearStepSize"]["Value"] == 25
    assert (
        plan.deployment_config("all-at-once", alarms=["a"])["BlueGreenUpdatePolicy"][
            "TrafficRoutingConfiguration"
        ]["Type"]
        == "ALL_AT_ONCE"
    )
    for kwargs in ({"percent": 0}, {"percent": 100}, {"wait_seconds": -1}):
        with pytest.raises(UsageError):
            plan.deployment_config("canary", **kwargs)
    with pytest.raises(UsageError):
        plan.deployment_config("rolling")


def test_scaling_requests_round_trip() -> None:
    wanted = scaling.Scaling(1, 4, 250.0, 600, 30)
    target = scaling.scalable_target_request("ep", "AllTraffic", wanted)
    assert target["ResourceId"] == "endpoint/ep/variant/AllTraffic"
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    policy = scaling.scaling_policy_request("ep", "AllTraffic", wanted)
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert (config["TargetValue"], config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (250.0, 600, 30)
    assert scaling.scaling_from_aws(target, [policy]) == wanted
    assert scaling.scaling_from_aws(target, []) is None
    for bad in (
        scaling.Scaling(0, 1, 1),
        scaling.Scaling(3, 2, 1),
        scaling.Scaling(1, 2, 0),
        scaling.Scaling(1, 2, 1, -1),
    ):
        with pytest.raises(UsageError):
            bad.validate()


def test_since_and_period() -> None:
    assert metrics.parse_since("1h30m") == timedelta(hours=1, minutes=30)
    assert metrics.parse_since("2d") == timedelta(days=2)
    for bad in ("", "1x", "h", "999d"):
        with pytest.raises(UsageError):
            metrics.parse_since(bad)
    assert metrics.period_for(timedelta(hours=1)) == 60
    assert metrics.period_for(timedelta(days=14)) == 840
    assert metrics.period_for(timedelta(days=14)) % 60 == 0


def test_summaries() -> None:
    points = [
        {"Sum": 10.0, "Maximum": 4.0, "SampleCount": 5.0},
        {"Sum": 5.0, "Maximum": 5.0, "SampleCount": 2.0},
    ]
    assert asdict(metrics.summarize("Invocations", "Sum", points)) == {
        "metric": "Invocations",
        "value": 15.0,
        "max": 5.0,
        "datapoints": 2,
    }
    latency = [
        {"Average": 100.0, "Maximum": 150.0, "SampleCount": 3.0},
        {"Average": 200.0, "SampleCount": 1.0},
    ]
    assert metrics.summarize("ModelLatency", "Average", latency).value == 125.0
    assert metrics.summarize("ModelLatency", "Average", []).value is None
    table = metrics_table([metrics.summarize("Invocations", "Sum", points)])
    assert "Invocations" in table and "total" in table and "15" in table
