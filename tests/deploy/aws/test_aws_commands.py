"""Each `byoc` AWS command against the extended moto server on loopback (no Docker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import moto_sagemaker
import pytest
from aws_helpers import IMAGE, ROLE
from botocore.exceptions import ClientError


@pytest.fixture(autouse=True)
def ecr_image(aws) -> None:
    """IMAGE exists in moto's ECR, as it does once build_and_push.sh pushed it."""
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="byoc-toolkit")
    manifest = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
    ecr.put_image(repositoryName="byoc-toolkit", imageManifest=manifest, imageTag="test")


def sm():
    return boto3.client("sagemaker")


def deploy(byoc, name: str, model: str, *extra: str):
    return byoc("deploy", name, "--image", IMAGE, "--model-data", model, "--role", ROLE, *extra)


def scaling_targets(endpoint: str) -> list[dict]:
    answer = boto3.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    return [t for t in answer["ScalableTargets"] if t["ResourceId"].startswith(f"endpoint/{endpoint}/")]


# --- the harness itself ---------------------------------------------------------------------------


def test_moto_refuses_duplicates_and_models_transitions(aws) -> None:
    client = sm()
    container = {"Image": IMAGE}
    client.create_model(ModelName="m1", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    with pytest.raises(ClientError, match="already existing model"):
        client.create_model(ModelName="m1", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    variant = {
        "VariantName": "v",
        "ModelName": "m1",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    client.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[variant])
    with pytest.raises(ClientError, match="already existing endpoint configuration"):
        client.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[variant])
    client.create_endpoint(EndpointName="e1", EndpointConfigName="c1")
    assert client.describe_endpoint(EndpointName="e1")["EndpointStatus"] == "Creating"
    with pytest.raises(ClientError, match="already existing endpoint"):
        client.create_endpoint(EndpointName="e1", EndpointConfigName="c1")
    with pytest.raises(ClientError, match="in-progress"):
        client.update_endpoint(EndpointName="e1", EndpointConfigName="c1")


def test_moto_auto_scaling_checks_the_endpoint_and_the_target(aws) -> None:
    autoscaling = boto3.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/nope/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    with pytest.raises(ClientError, match="does not exist"):
        autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    with pytest.raises(ClientError, match="No scalable target"):
        autoscaling.put_scaling_policy(
            PolicyName="p",
            **target,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 1.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
            },
        )


def test_errors_without_credentials_or_on_a_failed_endpoint_are_messages(
    aws, byoc, model_tarball, monkeypatch
) -> None:
    moto_sagemaker.script("ep-f", create="fail", reason="boom")
    assert deploy(byoc, "ep-f", str(model_tarball)).code == 1
    refused = byoc("update", "ep-f", "--model-data", str(model_tarball))
    assert (
        refused.code == 2
        and "cannot update a Failed endpoint" in refused.err
        and "byoc delete ep-f" in refused.err
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    no_credentials = byoc("status", "ep-f")
    assert no_credentials.code == 1 and "credentials" in no_credentials.err.lower()
    assert "Traceback" not in no_credentials.err


# --- upload and deploy ---------------------------------------------------------------------------------


def test_upload(aws, byoc, model_tarball) -> None:
    boto3.client("s3").create_bucket(Bucket="models")
    result = byoc("upload", str(model_tarball), "s3://models/v1/")
    assert result.code == 0, result
    assert result.out.strip().splitlines()[-1] == "s3://models/v1/model.tar.gz"
    assert boto3.client("s3").head_object(Bucket="models", Key="v1/model.tar.gz")["ContentLength"] > 0
    not_archive = model_tarball.with_name("model.joblib")
    not_archive.write_bytes(b"x")
    refused = byoc("upload", str(not_archive), "s3://models/v1/")
    assert refused.code == 2 and "gzipped tar" in refused.err


def test_deploy_waits_until_in_service(aws, byoc, model_tarball) -> None:
    result = deploy(
        byoc,
        "ep-deploy",
        str(model_tarball),
        "--env",
        "SAGEMAKER_PROGRAM=inference.py",
        "--instance-count",
        "2",
    )
    assert result.code == 0, result
    assert "endpoint ep-deploy: Creating" in result.err
    assert "InService after" in result.err
    described = sm().describe_endpoint(EndpointName="ep-deploy")
    assert described["EndpointStatus"] == "InService"
    config = sm().describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 2)
    model = sm().describe_model(ModelName=variant["ModelName"])
    container = model["PrimaryContainer"]
    assert container["Image"] == IMAGE
    assert container["Environment"] == {"SAGEMAKER_PROGRAM": "inference.py"}
    assert container["ModelDataUrl"].startswith("s3://sagemaker-us-east-1-123456789012/byoc/ep-deploy/")
    assert model["ExecutionRoleArn"] == ROLE

    again = deploy(byoc, "ep-deploy", str(model_tarball))
    assert again.code == 2 and "already exists" in again.err
    # --update turns it into `byoc update`: a new model and config, InService on the new config
    updated = deploy(byoc, "ep-deploy", str(model_tarball), "--update", "--instance-type", "ml.c5.large")
    assert updated.code == 0, updated
    now = sm().describe_endpoint(EndpointName="ep-deploy")
    assert now["EndpointConfigName"] != described["EndpointConfigName"]
    new_config = sm().describe_endpoint_config(EndpointConfigName=now["EndpointConfigName"])
    assert new_config["ProductionVariants"][0]["InstanceType"] == "ml.c5.large"


def test_deploy_serverless_with_an_s3_model_and_no_wait(aws, byoc, model_tarball) -> None:
    boto3.client("s3").create_bucket(Bucket="models")
    boto3.client("s3").upload_file(str(model_tarball), "models", "m.tar.gz")
    result = deploy(
        byoc,
        "ep-sls",
        "s3://models/m.tar.gz",
        "--serverless-memory",
        "2048",
        "--serverless-concurrency",
        "4",
        "--no-wait",
    )
    assert result.code == 0, result
    described = sm().describe_endpoint(EndpointName="ep-sls")
    assert described["EndpointStatus"] == "Creating"
    config = sm().describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 4,
    }
    missing = deploy(byoc, "ep-sls2", "s3://models/nope.tar.gz")
    assert missing.code == 2 and "no such S3 object" in missing.err


def test_failed_creation_prints_the_reason_and_exits_1(aws, byoc, model_tarball) -> None:
    moto_sagemaker.script("ep-broken", create="fail", reason="ping health check failed: exit status 3")
    result = deploy(byoc, "ep-broken", str(model_tarball))
    assert result.code == 1
    assert "Failed: ping health check failed: exit status 3" in result.err
    assert sm().describe_endpoint(EndpointName="ep-broken")["EndpointStatus"] == "Failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad_name",), "only letters, digits and hyphens"),
        (("ok", "--instance-count", "0"), "at least 1"),
        (("ok", "--serverless-memory", "1000", "--serverless-concurrency", "1"), "1024"),
        (("ok", "--env", "NOPE"), "NAME=VALUE"),
        (
            (
                "ok",
                "--instance-type",
                "ml.m5.large",
                "--serverless-memory",
                "1024",
                "--serverless-concurrency",
                "1",
            ),
            "exclude",
        ),
    ],
)
def test_arguments_are_checked_before_any_aws_call(aws, byoc, model_tarball, args, message) -> None:
    result = byoc(
        "deploy", args[0], "--image", IMAGE, "--model-data", str(model_tarball), "--role", ROLE, *args[1:]
    )
    assert result.code == 2
    assert message in result.err
    assert sm().list_models()["Models"] == []


# --- update ----------------------------------------------------------------------------------------------


def _current(endpoint: str) -> tuple[str, str]:
    described = sm().describe_endpoint(EndpointName=endpoint)
    config = sm().describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    return described["EndpointConfigName"], config["ProductionVariants"][0]["ModelName"]


def test_update_success_replaces_and_removes_the_old_config_and_model(aws, byoc, model_tarball) -> None:
    assert deploy(byoc, "ep-up", str(model_tarball), "--env", "A=1").code == 0
    old_config, old_model = _current("ep-up")
    result = byoc("update", "ep-up", "--model-data", str(model_tarball), "--env", "B=2")
    assert result.code == 0, result
    assert "Updating" in result.err
    assert moto_sagemaker.STATE.deployment_configs["ep-up"] is None  # all at once: SageMaker's default
    new_config, new_model = _current("ep-up")
    assert new_config != old_config
    model = sm().describe_model(ModelName=new_model)
    assert model["PrimaryContainer"]["Image"] == IMAGE  # kept
    assert model["PrimaryContainer"]["Environment"] == {"A": "1", "B": "2"}
    configs = [c["EndpointConfigName"] for c in sm().list_endpoint_configs()["EndpointConfigs"]]
    models = [m["ModelName"] for m in sm().list_models()["Models"]]
    assert configs == [new_config]
    assert models == [new_model]
    assert old_model not in models


def test_update_rolled_back_is_a_failure(aws, byoc, model_tarball) -> None:
    assert deploy(byoc, "ep-rb", str(model_tarball)).code == 0
    before = _current("ep-rb")
    moto_sagemaker.script("ep-rb", update="rollback", reason="alarm ep-rb-5xx went into ALARM")
    result = byoc(
        "update",
        "ep-rb",
        "--model-data",
        str(model_tarball),
        "--traffic",
        "canary",
        "--rollback-alarm",
        "ep-rb-5xx",
    )
    assert result.code == 1
    assert "rolled back" in result.err and "alarm ep-rb-5xx went into ALARM" in result.err
    assert sm().describe_endpoint(EndpointName="ep-rb")["EndpointStatus"] == "InService"
    sent = moto_sagemaker.STATE.deployment_configs["ep-rb"]
    routing = sent["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY" and routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}
    assert sent["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "ep-rb-5xx"}]}
    assert _current("ep-rb") == before
    # the unused new config and model are removed; the old ones stay
    assert [c["EndpointConfigName"] for c in sm().list_endpoint_configs()["EndpointConfigs"]] == [before[0]]


def test_update_failed_is_a_failure(aws, byoc, model_tarball) -> None:
    assert deploy(byoc, "ep-uf", str(model_tarball)).code == 0
    moto_sagemaker.script("ep-uf", update="fail", reason="could not pull the image")
    result = byoc("update", "ep-uf", "--model-data", str(model_tarball), "--image", IMAGE)
    assert result.code == 1
    assert "Failed: could not pull the image" in result.err


def test_update_changes_instance_type_around_auto_scaling(aws, byoc, model_tarball) -> None:
    assert deploy(byoc, "ep-it", str(model_tarball)).code == 0
    assert byoc("autoscale", "ep-it", "--min", "1", "--max", "4", "--target-invocations", "200").code == 0
    # what AWS (and the extended moto) refuses: the instance type of a scaled variant
    _, model = _current("ep-it")
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InstanceType": "ml.c5.large",
        "InitialInstanceCount": 1,
    }
    sm().create_endpoint_config(EndpointConfigName="manual", ProductionVariants=[variant])
    with pytest.raises(ClientError, match="must be deregistered"):
        sm().update_endpoint(EndpointName="ep-it", EndpointConfigName="manual")

    result = byoc("update", "ep-it", "--model-data", str(model_tarball), "--instance-type", "ml.c5.large")
    assert result.code == 0, result
    assert (
        "deregistering auto scaling" in result.out
        and "registering auto scaling of AllTraffic again" in result.out
    )
    new_config, _ = _current("ep-it")
    described = sm().describe_endpoint_config(EndpointConfigName=new_config)
    assert described["ProductionVariants"][0]["InstanceType"] == "ml.c5.large"
    targets = scaling_targets("ep-it")
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(1, 4)]
    status = byoc("status", "ep-it")
    assert "ml.c5.large" in status.out and "1-4, target 200/min" in status.out


def test_update_of_a_missing_endpoint(aws, byoc, model_tarball) -> None:
    result = byoc("update", "ep-none", "--model-data", str(model_tarball))
    assert result.code == 2 and "does not exist" in result.err


# --- autoscale, invoke, status, metrics, delete ------------------------------------------------------------


def test_autoscale_and_its_removal(aws, byoc, model_tarball) -> None:
    assert deploy(byoc, "ep-as", str(model_tarball)).code == 0
    result = byoc(
        "autoscale", "ep-as", "--min", "2", "--max", "5", "--target-invocations", "70",
        "--scale-in-cooldown", "120", "--scale-out-cooldown", "30",
    )  # fmt: skip
    assert result.code == 0, result
    [target] = scaling_targets("ep-as")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)
    policies = boto3.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="sagemaker")
    [policy] = policies["ScalingPolicies"]
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 70.0
    assert (config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (120, 30)
    assert (
        config["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )

    assert byoc("autoscale", "ep-as", "--min", "3", "--max", "2", "--target-invocations", "1").code == 2
    assert byoc("autoscale", "ep-as", "--min", "1").code == 2
    assert byoc("autoscale", "ep-none", "--min", "1", "--max", "2", "--target-invocations", "1").code == 2

    removed = byoc("autoscale", "ep-as", "--remove")
    assert removed.code == 0 and "removed auto scaling" in removed.out
    assert scaling_targets("ep-as") == []
    assert "had no auto scaling" in byoc("autoscale", "ep-as", "--remove").out


def test_invoke_prints_status_and_body(aws, byoc, model_tarball, tmp_path) -> None:
    assert deploy(byoc, "ep-inv", str(model_tarball)).code == 0
    payload = tmp_path / "rows.csv"
    payload.write_text("5.1,3.5,1.4,0.2\n")
    result = byoc(
        "invoke", "ep-inv", "--content-type", "text/csv", "--file", str(payload), "--custom-attributes", "a=1"
    )
    assert result.code == 0, result
    assert "status: 200" in result.out
    assert "invoking ep-inv with 16 bytes of text/csv" in result.out
    # moto's sagemaker-runtime answers canned text; test_aws_push_and_flow.py reaches a real container


def test_status(aws, byoc, model_tarball) -> None:
    assert byoc("status", "ep-st").code == 1
    assert (
        deploy(
            byoc, "ep-st", str(model_tarball), "--instance-type", "ml.c5.xlarge", "--instance-count", "3"
        ).code
        == 0
    )
    result = byoc("status", "ep-st")
    assert result.code == 0
    assert "endpoint ep-st: InService" in result.out
    assert "ml.c5.xlarge" in result.out
    row = next(line for line in result.out.splitlines() if line.startswith("AllTraffic"))
    assert row.split()[3:5] == ["3", "3"]


def test_metrics_table_and_plot(aws, byoc, model_tarball, tmp_path) -> None:
    assert deploy(byoc, "ep-m", str(model_tarball)).code == 0
    cloudwatch = boto3.client("cloudwatch")
    dimensions = [{"Name": "EndpointName", "Value": "ep-m"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    now = datetime.now(UTC)
    data = []
    for minutes_ago, invocations, latency in ((10, 40, 2000.0), (5, 60, 4000.0)):
        when = now - timedelta(minutes=minutes_ago)
        data += [
            {
                "MetricName": "Invocations",
                "Dimensions": dimensions,
                "Timestamp": when,
                "Value": invocations,
                "Unit": "Count",
            },
            {
                "MetricName": "ModelLatency",
                "Dimensions": dimensions,
                "Timestamp": when,
                "Value": latency,
                "Unit": "Microseconds",
            },
            {
                "MetricName": "Invocation4XXErrors",
                "Dimensions": dimensions,
                "Timestamp": when,
                "Value": 1,
                "Unit": "Count",
            },
        ]
    cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)
    chart = tmp_path / "metrics.png"
    result = byoc("metrics", "ep-m", "--since", "30m", "--plot", str(chart))
    assert result.code == 0, result
    names = ("Invocations", "ModelLatency", "OverheadLatency", "Invocation4XXErrors", "Invocation5XXErrors")
    rows = {
        line.split()[0]: line.split()
        for line in result.out.splitlines()
        if line.split()[:1] in [[n] for n in names]
    }
    assert rows["Invocations"][1:3] == ["total", "100"]
    assert rows["ModelLatency"][1:3] == ["average", "3,000"]
    assert rows["Invocation4XXErrors"][2] == "2"
    assert rows["Invocation5XXErrors"][2] == "-"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert byoc("metrics", "ep-m", "--since", "forever").code == 2


def test_local_metrics_without_the_local_endpoint_says_so(aws, byoc, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "deploy.local.endpoints", None)  # as if it were not installed
    result = byoc("metrics", "--local", "nope")
    assert result.code == 2 and "local endpoints are not available" in result.err


def test_delete_everything_and_idempotently(aws, byoc, model_tarball) -> None:
    assert deploy(byoc, "ep-del", str(model_tarball)).code == 0
    assert byoc("update", "ep-del", "--model-data", str(model_tarball), "--keep-old").code == 0
    assert byoc("autoscale", "ep-del", "--min", "1", "--max", "2", "--target-invocations", "10").code == 0
    assert deploy(byoc, "other", str(model_tarball)).code == 0
    assert len(sm().list_endpoint_configs()["EndpointConfigs"]) == 3

    refused = byoc("delete", "ep-del")  # stdin is not a terminal here
    assert refused.code == 2 and "--yes" in refused.err
    result = byoc("delete", "ep-del", "--yes")
    assert result.code == 0, result
    assert "deregistered auto scaling" in result.out
    assert [e["EndpointName"] for e in sm().list_endpoints()["Endpoints"]] == ["other"]
    assert [c["EndpointConfigName"] for c in sm().list_endpoint_configs()["EndpointConfigs"]] == [
        _current("other")[0]
    ]
    assert [m["ModelName"] for m in sm().list_models()["Models"]] == [_current("other")[1]]
    assert scaling_targets("ep-del") == []
    again = byoc("delete", "ep-del", "--yes")
    assert again.code == 0 and "nothing to delete" in again.out


def test_delete_asks_on_a_terminal(aws, byoc, model_tarball, monkeypatch) -> None:
    assert deploy(byoc, "ep-ask", str(model_tarball)).code == 0
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["no", "ep-ask"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    kept = byoc("delete", "ep-ask")
    assert kept.code == 1 and "not deleted" in kept.out
    assert sm().describe_endpoint(EndpointName="ep-ask")["EndpointStatus"] == "InService"
    deleted = byoc("delete", "ep-ask")
    assert deleted.code == 0 and "deleted endpoint ep-ask" in deleted.out
    assert sm().list_endpoints()["Endpoints"] == []


def test_images_sagemaker_could_not_pull_are_refused_up_front(aws, byoc, model_tarball) -> None:
    missing = byoc(
        "deploy", "ep-img", "--image", IMAGE + "-nope", "--model-data", str(model_tarball), "--role", ROLE
    )
    assert missing.code == 2 and "ECR has no such image" in missing.err
    elsewhere = IMAGE.replace("us-east-1", "eu-west-1")
    other_region = byoc(
        "deploy", "ep-img", "--image", elsewhere, "--model-data", str(model_tarball), "--role", ROLE
    )
    assert other_region.code == 2 and "ECR of its own region" in other_region.err
    assert sm().list_models()["Models"] == []
    skipped = byoc(
        "deploy", "ep-img", "--image", IMAGE + "-nope", "--model-data", str(model_tarball), "--role", ROLE,
        "--skip-image-check", "--no-wait",
    )  # fmt: skip
    assert skipped.code == 0, skipped
    elsewhere_registry = byoc(
        "deploy", "ep-img2", "--image", "registry.example/x:1", "--model-data", str(model_tarball),
        "--role", ROLE, "--no-wait",
    )  # fmt: skip
    assert elsewhere_registry.code == 0 and "is not an ECR image" in elsewhere_registry.out
