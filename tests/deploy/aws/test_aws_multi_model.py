"""`byoc deploy --multi-model` and `byoc invoke --target-model` against the extended moto server.

A multi-model endpoint's model is one container in Mode MultiModel whose ModelDataUrl is the S3 prefix
of its models, with ModelCacheSetting in MultiModelConfig
(https://docs.aws.amazon.com/sagemaker/latest/dg/create-multi-model-endpoint.html,
API_ContainerDefinition.html); InvokeEndpoint names the model with TargetModel, its path below that
prefix (https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html).
"""

from __future__ import annotations

import boto3
import moto_sagemaker
import pytest
from aws_helpers import IMAGE, ROLE

PREFIX = "s3://models/customers/"


@pytest.fixture(autouse=True)
def ecr_image(aws) -> None:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="byoc-toolkit")
    manifest = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
    ecr.put_image(repositoryName="byoc-toolkit", imageManifest=manifest, imageTag="test")


def deploy_many(byoc, name: str, *extra: str):
    return byoc(
        "deploy", name, "--image", IMAGE, "--role", ROLE, "--multi-model", "--model-data-prefix", *extra
    )


def test_deploy_multi_model_creates_a_multi_model_container(aws, byoc, model_tarball) -> None:
    boto3.client("s3").create_bucket(Bucket="models")
    boto3.client("s3").upload_file(str(model_tarball), "models", "customers/a.tar.gz")
    result = deploy_many(byoc, "ep-many", "s3://models/customers", "--model-cache", "Disabled")
    assert result.code == 0, result
    sagemaker = boto3.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="ep-many")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    container = model["PrimaryContainer"]
    assert container["Mode"] == "MultiModel"
    assert container["ModelDataUrl"] == PREFIX
    assert container["MultiModelConfig"] == {"ModelCacheSetting": "Disabled"}


def test_invoke_sends_target_model_and_moto_checks_it(aws, byoc, model_tarball) -> None:
    boto3.client("s3").create_bucket(Bucket="models")
    assert deploy_many(byoc, "ep-tm", PREFIX).code == 0
    sent = byoc(
        "invoke", "ep-tm", "--content-type", "text/csv", "--body", "1,2,3,4", "--target-model", "a.tar.gz"
    )
    assert sent.code == 0, sent
    headers = moto_sagemaker.invocations("ep-tm")[-1]
    assert {k.lower(): v for k, v in headers.items()}["x-amzn-sagemaker-target-model"] == "a.tar.gz"
    refused = byoc("invoke", "ep-tm", "--content-type", "text/csv", "--body", "1,2,3,4")
    assert refused.code == 1 and "TargetModel is required" in refused.err


def test_target_model_on_a_single_model_endpoint_is_refused(aws, byoc, model_tarball) -> None:
    assert (
        byoc("deploy", "ep-one", "--image", IMAGE, "--role", ROLE, "--model-data", str(model_tarball)).code
        == 0
    )
    refused = byoc(
        "invoke", "ep-one", "--content-type", "text/csv", "--body", "1", "--target-model", "a.tar.gz"
    )
    assert refused.code == 1 and "not a multi-model endpoint" in refused.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--multi-model"], "--multi-model goes with --model-data-prefix"),
        (
            ["--multi-model", "--model-data-prefix", PREFIX, "--model-data", "x.tar.gz"],
            "without --model-data",
        ),
        (["--multi-model", "--model-data-prefix", "models/customers/"], "are in S3"),
        (["--model-data", "x.tar.gz", "--model-cache", "Disabled"], "--model-cache is a setting"),
        ([], "--model-data (or --from-training-job) required"),
    ],
)
def test_multi_model_arguments_are_checked_first(aws, byoc, args, message) -> None:
    result = byoc("deploy", "ep-bad", "--image", IMAGE, "--role", ROLE, *args)
    assert result.code == 2 and message in result.err, result
    assert boto3.client("sagemaker").list_models()["Models"] == []
