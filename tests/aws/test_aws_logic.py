"""The deploy package's pure logic: names, requests, state interpretation, progress, tables (no AWS)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from deploy import names, plan, report, waiters

# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "my-endpoint", "A1-b2-C3", "x" * 63, "a--b"])
def test_valid_names(name: str) -> None:
    assert names.validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("x" * 64, "64 characters"),
        ("my_endpoint", "'_'"),
        ("my.endpoint", "'.'"),
        ("-start", "start and end"),
        ("end-", "start and end"),
        ("café", "'é'"),
    ],
)
def test_invalid_names_say_why(name: str, why: str) -> None:
    with pytest.raises(names.InvalidName, match=why):
        names.validate_name(name)


def test_generated_names_are_valid_unique_and_tied_to_the_endpoint() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert names.generate_name("ep", "m", now=now, token="abcd") == "ep-m-20260102-030405-abcd"
    long = "e" * 62 + "-x"
    generated = {names.generate_name(long, "c") for _ in range(50)}
    assert len(generated) == 50
    for name in generated:
        assert len(name) <= 63
        assert names.validate_name(name)
        assert names.belongs_to(name, long)
    assert not names.belongs_to("other-m-20260102-030405-abcd", "ep")
    # an endpoint prefix that ends in "-" after truncation still gives a valid name
    assert names.validate_name(names.generate_name("a" * 39 + "-" + "b" * 20, "m"))
    with pytest.raises(ValueError):
        names.generate_name("ep", "x")


def test_ecr_image_uris() -> None:
    digest = "sha256:" + "a" * 64
    assert names.parse_ecr_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model:v1") == {
        "account": "123456789012",
        "region": "eu-west-1",
        "repository": "team/model",
        "tag": "v1",
        "digest": None,
    }
    pinned = names.parse_ecr_image(f"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/m@{digest}")
    assert pinned["digest"] == digest and pinned["tag"] is None and pinned["region"] == "cn-north-1"
    assert names.parse_ecr_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/m")["tag"] is None
    for other in (
        "127.0.0.1:5000/m:v1",
        "docker.io/library/python:3.11",
        "12345.dkr.ecr.us-east-1.amazonaws.com/m",
    ):
        assert names.parse_ecr_image(other) is None


def test_s3_uris() -> None:
    assert names.parse_s3_uri("s3://bucket-1/a/b.tar.gz") == ("bucket-1", "a/b.tar.gz")
    for bad in ("bucket/key", "s3://", "https://x/y", "s3://UPPER/key"):
        with pytest.raises(ValueError):
            names.parse_s3_uri(bad)


# --- requests ------------------------------------------------------------------------------------


def test_env_pairs() -> None:
    assert plan.parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in (["A"], ["=1"], ["1A=2"], ["A B=1"]):
        with pytest.raises(plan.PlanError):
            plan.parse_env(bad)


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
    assert request["Tags"] == [{"Key": names.ENDPOINT_TAG, "Value": "ep"}]
    with pytest.raises(plan.PlanError, match="IAM role ARN"):
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
        data_capture_s3="s3://b/capture",
        data_capture_percent=20,
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
    with pytest.raises(plan.PlanError, match=message):
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
        with pytest.raises(plan.PlanError):
            plan.deployment_config("canary", **kwargs)
    with pytest.raises(plan.PlanError):
        plan.deployment_config("rolling")


def test_scaling_requests_round_trip() -> None:
    scaling = plan.Scaling(1, 4, 250.0, 600, 30)
    target = plan.scalable_target_request("ep", "AllTraffic", scaling)
    assert target["ResourceId"] == "endpoint/ep/variant/AllTraffic"
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    policy = plan.scaling_policy_request("ep", "AllTraffic", scaling)
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert (config["TargetValue"], config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (250.0, 600, 30)
    assert plan.scaling_from_aws(target, [policy]) == scaling
    assert plan.scaling_from_aws(target, []) is None
    for bad in (
        plan.Scaling(0, 1, 1),
        plan.Scaling(3, 2, 1),
        plan.Scaling(1, 2, 0),
        plan.Scaling(1, 2, 1, -1),
    ):
        with pytest.raises(plan.PlanError):
            bad.validate()


# --- state interpretation ------------------------------------------------------------------------


def test_create_outcomes() -> None:
    assert waiters.interpret_create({"EndpointStatus": "Creating"}) == waiters.Outcome(
        False, False, "Creating"
    )
    assert waiters.interpret_create({"EndpointStatus": "InService"}).ok
    failed = waiters.interpret_create({"EndpointStatus": "Failed", "FailureReason": "ping failed"})
    assert failed.done and not failed.ok and "ping failed" in failed.message
    assert not waiters.interpret_create(None).ok


def test_update_success_means_in_service_on_the_new_config() -> None:
    def outcome(status: str, config: str, reason: str = "") -> waiters.Outcome:
        describe = {"EndpointStatus": status, "EndpointConfigName": config, "FailureReason": reason}
        return waiters.interpret_update(describe, "new", "old")

    assert not outcome("Updating", "old").done
    assert not outcome("SystemUpdating", "old").done
    assert outcome("InService", "new").ok
    rolled_back = outcome("InService", "old", "alarm high-5xx fired")
    assert rolled_back.done and not rolled_back.ok
    assert rolled_back.status == "RolledBack" and "alarm high-5xx fired" in rolled_back.message
    failed = outcome("Failed", "new", "no space")
    assert failed.done and not failed.ok and "no space" in failed.message
    assert not outcome("InService", "third").ok
    assert not waiters.interpret_update(None, "new", "old").ok


def test_wait_is_bounded_and_reports_progress() -> None:
    clock = iter(range(1000))
    states = iter(["Creating", "Creating", "InService"])
    stream = io.StringIO()
    outcome = waiters.wait(
        lambda: {"EndpointStatus": next(states)},
        waiters.interpret_create,
        waiters.Progress("endpoint ep", stream, report_every=30),
        timeout=100,
        interval=1,
        clock=lambda: float(next(clock)),
        sleep=lambda _s: None,
    )
    assert outcome.ok
    # not a terminal: one line per status change, then the end
    assert stream.getvalue().splitlines() == ["endpoint ep: Creating (1s)", "endpoint ep: InService after 3s"]

    with pytest.raises(waiters.WaitTimeout, match="still Creating"):
        waiters.wait(
            lambda: {"EndpointStatus": "Creating"},
            waiters.interpret_create,
            waiters.Progress("endpoint ep", io.StringIO()),
            timeout=5,
            interval=1,
            clock=lambda: float(next(clock)),
            sleep=lambda _s: None,
        )


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = waiters.Progress("endpoint ep", stream)
    progress.update("Updating", 1)
    progress.update("Updating", 75)
    progress.finish("InService", 80)
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "\rendpoint ep: Updating (1m15s)" in text
    assert text.endswith("endpoint ep: InService after 1m20s\n")


def test_periodic_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = waiters.Progress("x", stream, report_every=30)
    for second in range(0, 70, 5):
        progress.update("Updating", second)
    assert len(stream.getvalue().splitlines()) == 3  # at 0, 30 and 60 s


# --- tables and metrics ----------------------------------------------------------------------------


def test_table_aligns_text_left_and_numbers_right() -> None:
    text = report.table(["name", "count"], [["a", 1], ["bbb", 12345], ["c", None]])
    assert text.splitlines() == [
        "name   count",
        "----  ------",
        "a          1",
        "bbb   12,345",
        "c          -",
    ]


def test_since_and_period() -> None:
    assert report.parse_since("1h30m") == timedelta(hours=1, minutes=30)
    assert report.parse_since("2d") == timedelta(days=2)
    for bad in ("", "1x", "h", "999d"):
        with pytest.raises(ValueError):
            report.parse_since(bad)
    assert report.period_for(timedelta(hours=1)) == 60
    assert report.period_for(timedelta(days=14)) == 840
    assert report.period_for(timedelta(days=14)) % 60 == 0


def test_summaries() -> None:
    points = [
        {"Sum": 10.0, "Maximum": 4.0, "SampleCount": 5.0},
        {"Sum": 5.0, "Maximum": 5.0, "SampleCount": 2.0},
    ]
    assert report.summarize("Invocations", "Sum", points) == {
        "metric": "Invocations",
        "value": 15.0,
        "max": 5.0,
        "datapoints": 2,
    }
    latency = [
        {"Average": 100.0, "Maximum": 150.0, "SampleCount": 3.0},
        {"Average": 200.0, "SampleCount": 1.0},
    ]
    assert report.summarize("ModelLatency", "Average", latency)["value"] == 125.0
    assert report.summarize("ModelLatency", "Average", [])["value"] is None
    table = report.metrics_table([report.summarize("Invocations", "Sum", points)])
    assert "Invocations" in table and "total" in table and "15" in table
