"""`byoc transform` against the extended moto server on loopback, and moto's transform jobs themselves.

Contracts: SageMaker API reference, CreateTransformJob (the request; ResourceInUse for a duplicate
name; the input prefix must hold objects), DescribeTransformJob (InProgress, then Completed or
Failed with FailureReason), StopTransformJob (Stopping, then Stopped), and
TransformOutput.S3OutputPath (OBJECT.out under the output prefix).
"""

from __future__ import annotations

import time

import boto3
import moto_transform
import pytest
from aws_helpers import IMAGE, ROLE
from botocore.exceptions import ClientError

BUCKET = "transform-data"


@pytest.fixture
def data(aws) -> None:
    """Two input objects under s3://transform-data/input/, a model, and IMAGE in ECR."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="input/part-1.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=BUCKET, Key="input/nested/part-2.csv", Body=b"5,6\n")
    s3.put_object(Bucket=BUCKET, Key="models/model.tar.gz", Body=b"archive")
    boto3.client("sagemaker").create_model(
        ModelName="iris", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE
    )
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="byoc-toolkit")
    manifest = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
    ecr.put_image(repositoryName="byoc-toolkit", imageManifest=manifest, imageTag="test")


CSV = [
    "--content-type",
    "text/csv",
    "--accept",
    "text/csv",
    "--split-type",
    "Line",
    "--assemble-with",
    "Line",
]
PLACES = ["--input", f"s3://{BUCKET}/input/", "--output", f"s3://{BUCKET}/output/"]


def test_the_job_is_created_waited_for_and_its_outputs_listed(byoc, data) -> None:
    result = byoc(
        "transform", "score-1", "--model", "iris", *PLACES, *CSV, "--strategy", "MultiRecord",
        "--max-payload", "2", "--max-concurrent", "4", "--input-filter", "$[1:]", "--join-source", "Input",
        "--env", "LOG=debug", "--max-retries", "1",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip().splitlines()[-1] == f"s3://{BUCKET}/output/"
    assert "transform job score-1: Completed" in result.err
    assert f"s3://{BUCKET}/output/part-1.csv.out" in result.err
    assert f"s3://{BUCKET}/output/nested/part-2.csv.out" in result.err
    job = boto3.client("sagemaker").describe_transform_job(TransformJobName="score-1")
    assert (job["BatchStrategy"], job["MaxPayloadInMB"], job["MaxConcurrentTransforms"]) == (
        "MultiRecord",
        2,
        4,
    )
    assert job["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$"}
    assert job["TransformInput"]["SplitType"] == "Line" and job["TransformOutput"]["AssembleWith"] == "Line"
    assert job["Environment"] == {"LOG": "debug"}
    assert job["ModelClientConfig"] == {"InvocationsMaxRetries": 1}
    assert "FailureReason" not in job


def test_a_model_made_for_the_job(byoc, data) -> None:
    result = byoc(
        "transform", "score-2", "--image", IMAGE, "--model-data", f"s3://{BUCKET}/models/model.tar.gz",
        "--role", ROLE, *PLACES, *CSV,
    )  # fmt: skip
    assert result.code == 0, result.err
    model = boto3.client("sagemaker").describe_model(ModelName="score-2-model")
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/models/model.tar.gz"


def test_a_failed_job_says_why(byoc, data) -> None:
    moto_transform.script("score-3", outcome="fail", reason="ClientError: See job logs for more information")
    result = byoc("transform", "score-3", "--model", "iris", *PLACES, *CSV)
    assert result.code == 1
    assert "transform job score-3 is Failed: ClientError: See job logs for more information" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--max-payload", "50", "--max-concurrent", "3"],
            "MaxConcurrentTransforms * MaxPayloadInMB is 150 MB",
        ),
        (["--join-source", "Input", "--split-type", "None"], "needs SplitType=Line"),
        (["--input-filter", "$..x"], "recursive descent"),
    ],
)
def test_settings_refused_before_anything_is_created(byoc, data, args: list[str], message: str) -> None:
    base = ["--content-type", "text/csv", "--accept", "text/csv"]
    result = byoc("transform", "score-4", "--model", "iris", *PLACES, *base, *args)
    assert result.code == 2 and message in result.err, result.err
    with pytest.raises(ClientError, match="Could not find transform job"):
        boto3.client("sagemaker").describe_transform_job(TransformJobName="score-4")


def test_model_arguments(byoc, data) -> None:
    result = byoc("transform", "score-5", *PLACES, *CSV)
    assert result.code == 2 and "--model NAME, or --image, --model-data and --role" in result.err
    result = byoc("transform", "score-5", "--model", "nope", *PLACES, *CSV)
    assert result.code == 2 and "--model nope: no such model" in result.err


# --- moto's transform jobs, as the extension models them ------------------------------------


def _create(name: str, model: str = "iris", source: str = f"s3://{BUCKET}/input/", **extra) -> dict:
    return boto3.client("sagemaker").create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}}},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/out-{name}/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    )


def test_moto_transform_jobs_as_aws_answers(data) -> None:
    client = boto3.client("sagemaker")
    _create("j1")
    assert client.describe_transform_job(TransformJobName="j1")["TransformJobStatus"] == "InProgress"
    with pytest.raises(ClientError, match="ResourceInUse"):
        _create("j1")
    with pytest.raises(ClientError, match="Could not find model"):
        _create("j2", model="missing")
    with pytest.raises(ClientError, match="No S3 objects found under S3 URL"):
        _create("j3", source=f"s3://{BUCKET}/nothing-here/")
    with pytest.raises(ClientError, match="must not exceed 100 MB"):
        _create("j4", MaxConcurrentTransforms=11, MaxPayloadInMB=10)
    _create("j5")
    client.stop_transform_job(TransformJobName="j5")
    assert client.describe_transform_job(TransformJobName="j5")["TransformJobStatus"] == "Stopping"
    time.sleep(moto_transform.DELAY + 0.1)
    assert client.describe_transform_job(TransformJobName="j5")["TransformJobStatus"] == "Stopped"
    assert client.describe_transform_job(TransformJobName="j1")["TransformJobStatus"] == "Completed"
    outputs = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="out-j5/").get("KeyCount", 0)
    assert outputs == 0  # a stopped job leaves no output
    answer = boto3.client("s3").get_object(Bucket=BUCKET, Key="out-j1/part-1.csv.out")["Body"].read()
    assert answer == b"1,2\n3,4\n".upper()
