"""The AWS commands for asynchronous endpoints against the extended moto server on loopback.

Contracts: CreateEndpointConfig's AsyncInferenceConfig (OutputConfig, ClientConfig,
NotificationConfig; an endpoint with it takes InvokeEndpointAsync only); InvokeEndpointAsync (202,
InferenceId, OutputLocation, FailureLocation); "Autoscale an asynchronous endpoint"
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html: MinCapacity 0,
target tracking on ApproximateBacklogSizePerInstance, the HasBacklogWithoutCapacity step policy and
alarm).
"""

from __future__ import annotations

import boto3
import moto_async
import pytest
from aws_helpers import IMAGE, ROLE

BUCKET = "async-results"
TOPIC = "arn:aws:sns:us-east-1:123456789012:results"


@pytest.fixture
def setup(aws) -> None:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="byoc-toolkit")
    manifest = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
    ecr.put_image(repositoryName="byoc-toolkit", imageManifest=manifest, imageTag="test")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=b"archive")
    s3.put_object(Bucket=BUCKET, Key="requests/rows.csv", Body=b"5.1,3.5,1.4,0.2\n")


def deploy_async(byoc, name: str, *extra: str):
    return byoc(
        "deploy", name, "--image", IMAGE, "--model-data", f"s3://{BUCKET}/model.tar.gz", "--role", ROLE,
        "--async-output", f"s3://{BUCKET}/results/", "--async-failure", f"s3://{BUCKET}/errors/", *extra,
    )  # fmt: skip


def test_deploy_makes_an_async_endpoint(byoc, setup) -> None:
    result = deploy_async(byoc, "iris-async", "--async-max-concurrent", "4", "--sns-success", TOPIC)
    assert result.code == 0, result.err
    assert "asynchronous" in result.out
    client = boto3.client("sagemaker")
    endpoint = client.describe_endpoint(EndpointName="iris-async")
    expected = {
        "OutputConfig": {
            "S3OutputPath": f"s3://{BUCKET}/results/",
            "S3FailurePath": f"s3://{BUCKET}/errors/",
            "NotificationConfig": {"SuccessTopic": TOPIC},
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }
    assert endpoint["AsyncInferenceConfig"] == expected
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["AsyncInferenceConfig"] == expected
    # An update keeps the endpoint asynchronous.
    assert byoc("update", "iris-async", "--model-data", f"s3://{BUCKET}/model.tar.gz").code == 0
    updated = client.describe_endpoint(EndpointName="iris-async")
    assert updated["EndpointConfigName"] != endpoint["EndpointConfigName"]
    assert updated["AsyncInferenceConfig"] == expected


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--async-max-concurrent", "0"], "1 to 1000"),
        (["--sns-error", "not-an-arn"], "is not an SNS topic ARN"),
        (["--serverless-memory", "2048", "--serverless-concurrency", "5"], "not serverless"),
    ],
)
def test_deploy_refuses_what_aws_would(byoc, setup, extra: list[str], message: str) -> None:
    result = byoc(
        "deploy", "iris-bad", "--image", IMAGE, "--model-data", f"s3://{BUCKET}/model.tar.gz", "--role", ROLE,
        "--async-output", f"s3://{BUCKET}/results/", *extra,
    )  # fmt: skip
    assert result.code == 2 and message in result.err, result.err
    assert byoc("deploy", "x", "--async-failure", f"s3://{BUCKET}/e/", "--image", IMAGE, "--model-data",
                f"s3://{BUCKET}/model.tar.gz", "--role", ROLE).code == 2  # fmt: skip


def test_invoke_async_waits_and_prints_the_result(byoc, setup) -> None:
    assert deploy_async(byoc, "iris-async").code == 0
    answer = boto3.client("sagemaker-runtime").invoke_endpoint_async(
        EndpointName="iris-async", InputLocation=f"s3://{BUCKET}/requests/rows.csv", ContentType="text/csv"
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202  # moto answered 200
    result = byoc(
        "invoke", "iris-async", "--async", "--input", f"s3://{BUCKET}/requests/rows.csv",
        "--content-type", "text/csv", "--inference-id", "req-1",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip().splitlines()[-1] == "answer:5.1,3.5,1.4,0.2"
    assert f"output: s3://{BUCKET}/results/req-1.out" in result.err
    assert f"failure: s3://{BUCKET}/errors/req-1-error.out" in result.err
    inline = byoc(
        "invoke", "iris-async", "--async", "--body", "6.7,3.0,5.2,2.3", "--content-type", "text/csv"
    )
    assert inline.code == 0 and inline.out.strip().endswith("answer:6.7,3.0,5.2,2.3"), inline.err
    located = byoc(
        "invoke", "iris-async", "--async", "--input", f"s3://{BUCKET}/requests/rows.csv", "--content-type",
        "text/csv", "--wait", "0", "--inference-id", "req-2",
    )  # fmt: skip
    assert located.code == 0 and located.out.strip().splitlines()[-1] == f"s3://{BUCKET}/results/req-2.out"


def test_invoke_async_failure_prints_the_error_object(byoc, setup) -> None:
    assert deploy_async(byoc, "iris-async").code == 0
    moto_async.script("iris-async", outcome="fail", status=400, message='{"code": "wrong_feature_count"}')
    result = byoc(
        "invoke", "iris-async", "--async", "--input", f"s3://{BUCKET}/requests/rows.csv",
        "--content-type", "text/csv",
    )  # fmt: skip
    assert result.code == 1
    assert '"OriginalStatusCode": 400' in result.err and "wrong_feature_count" in result.err


def test_invoke_async_on_a_real_time_endpoint(byoc, setup) -> None:
    assert (
        byoc(
            "deploy", "rt", "--image", IMAGE, "--model-data", f"s3://{BUCKET}/model.tar.gz", "--role", ROLE
        ).code
        == 0
    )
    result = byoc(
        "invoke", "rt", "--async", "--input", f"s3://{BUCKET}/requests/rows.csv", "--content-type", "text/csv"
    )
    assert result.code == 1 and "not an asynchronous endpoint" in result.err
    assert byoc("invoke", "rt", "--input", f"s3://{BUCKET}/x", "--content-type", "text/csv").code == 2


def test_autoscale_on_the_queue_down_to_zero(byoc, setup) -> None:
    assert deploy_async(byoc, "iris-async").code == 0
    result = byoc("autoscale", "iris-async", "--async", "--min", "0", "--max", "3")
    assert result.code == 0, result.err
    scaling = boto3.client("application-autoscaling")
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 3)
    policies = {
        p["PolicyType"]: p
        for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    }
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 5.0
    assert tracking["CustomizedMetricSpecification"]["MetricName"] == "ApproximateBacklogSizePerInstance"
    step = policies["StepScaling"]
    (alarm,) = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity" and alarm["AlarmActions"] == [step["PolicyARN"]]
    removed = byoc("autoscale", "iris-async", "--remove")
    assert removed.code == 0 and "removed alarm" in removed.out
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert boto3.client("cloudwatch").describe_alarms()["MetricAlarms"] == []


def test_autoscale_async_needs_an_async_endpoint(byoc, setup) -> None:
    assert (
        byoc(
            "deploy", "rt", "--image", IMAGE, "--model-data", f"s3://{BUCKET}/model.tar.gz", "--role", ROLE
        ).code
        == 0
    )
    result = byoc("autoscale", "rt", "--async", "--min", "0", "--max", "2")
    assert result.code == 2 and "is not asynchronous" in result.err
    # moto, as AWS, refuses a minimum of 0 for a real-time endpoint's target.
    with pytest.raises(Exception, match="asynchronous endpoints only"):
        boto3.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId="endpoint/rt/variant/AllTraffic",
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            MinCapacity=0,
            MaxCapacity=2,
        )
