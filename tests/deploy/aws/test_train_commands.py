"""`byoc train` against moto extended for training jobs (moto_training.py): the request the SDK would
send, the code where the SDK puts it, the job followed to its model or its FailureReason; and the
model a finished job hands to `deploy --from-training-job` (deploy.aws.plan.trained_model).

Cited: SageMaker Python SDK 2.x (sagemaker/estimator.py _script_mode_hyperparam_update and
_json_encode_hyperparameters, _assign_s3_prefix; sagemaker/fw_utils.py tar_and_upload_dir;
sagemaker/session.py _get_train_request and _logs_for_job); API_CreateTrainingJob and
API_DescribeTrainingJob (https://docs.aws.amazon.com/sagemaker/latest/APIReference/).
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import boto3
import moto_training
import pytest

from deploy.aws.plan import trained_model
from deploy.aws.plan.trained_model import NotDeployable

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CODE = ROOT / "model_artifacts" / "code"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc:1"


def train_args(job: str, *extra: str) -> list[str]:
    return [
        "train", job, "--image", IMAGE, "--role", ROLE, "--entry-point", "train.py",
        "--source-dir", str(SAMPLE_CODE), "--channel", "train=s3://data/iris/",
        "--hyperparameter", "max_iter=200", "--hyperparameter", "solver=lbfgs",
        "--instance-type", "ml.m5.large", "--output", "s3://artifacts/jobs", *extra,
    ]  # fmt: skip


@pytest.fixture
def buckets(aws) -> None:
    s3 = boto3.client("s3")
    for bucket in ("data", "artifacts"):
        s3.create_bucket(Bucket=bucket)


def test_train_follows_the_job_to_its_model(aws, buckets, byoc) -> None:
    result = byoc(*train_args("iris-1"))
    assert result.code == 0, result.err
    assert result.out.strip().splitlines()[-1] == "s3://artifacts/jobs/iris-1/output/model.tar.gz"
    # Progress: every secondary status, and the job's own log line from CloudWatch.
    for status in ("Starting", "Downloading", "Training", "Uploading", "Completed"):
        assert f"] {status}" in result.out
    assert "trained on 150 rows" in result.out

    described = boto3.client("sagemaker").describe_training_job(TrainingJobName="iris-1")
    # Every value JSON-encoded, with the five sagemaker_* the SDK adds for script mode.
    assert described["HyperParameters"] == {
        "max_iter": "200",
        "solver": '"lbfgs"',
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"s3://artifacts/jobs/iris-1/source/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"iris-1"',
        "sagemaker_region": '"us-east-1"',
    }
    assert described["InputDataConfig"] == [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://data/iris/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
    ]
    assert described["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert described["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    source = boto3.client("s3").get_object(Bucket="artifacts", Key="jobs/iris-1/source/sourcedir.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(source["Body"].read())) as archive:
        assert {"train.py", "inference.py"} <= set(archive.getnames())


def test_a_failed_job_prints_its_failure_reason(aws, buckets, byoc) -> None:
    moto_training.script("iris-2", outcome="fail", reason="ValueError: max_iter must be at least 1, not 0")
    result = byoc(*train_args("iris-2"))
    assert result.code == 1
    assert (
        "training job iris-2 Failed: AlgorithmError: ValueError: max_iter must be at least 1, not 0"
        in result.err
    )
    assert "Traceback" in result.out  # the log streamed from CloudWatch


def test_spot_and_its_limits(aws, buckets, byoc) -> None:
    assert byoc(*train_args("iris-3", "--spot", "--max-run", "3600", "--no-wait")).code == 0
    described = boto3.client("sagemaker").describe_training_job(TrainingJobName="iris-3")
    assert described["EnableManagedSpotTraining"] is True
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600}
    result = byoc(*train_args("iris-4", "--spot", "--max-run", "3600", "--max-wait", "60"))
    assert result.code == 2 and "--max-wait must be at least --max-run" in result.err


def test_a_duplicate_job_name_is_refused(aws, buckets, byoc) -> None:
    assert byoc(*train_args("iris-5", "--no-wait")).code == 0
    result = byoc(*train_args("iris-5", "--no-wait"))
    assert result.code == 2 and "training job iris-5 exists already" in result.err
    # And the harness answers a duplicate CreateTrainingJob as AWS does.
    described = boto3.client("sagemaker").describe_training_job(TrainingJobName="iris-5")
    request = {k: described[k] for k in ("AlgorithmSpecification", "RoleArn", "OutputDataConfig")}
    with pytest.raises(boto3.client("sagemaker").exceptions.ResourceInUse):
        boto3.client("sagemaker").create_training_job(TrainingJobName="iris-5", **request)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--channel", "test=/local/dir"), "a training job reads S3"),
        (("--hyperparameter", "sagemaker_program=x.py"), "sagemaker_* names are the toolkit's own"),
        (("--channel", "bad/name=s3://data/x"), "a channel name is"),
    ],
)
def test_arguments_that_cannot_make_a_job(aws, buckets, byoc, change: tuple[str, str], message: str) -> None:
    result = byoc(*train_args("iris-6"), *change)
    assert result.code == 2 and message in result.err
    result = byoc(*[arg if arg != "train.py" else "missing.py" for arg in train_args("iris-7")])
    assert result.code == 2 and "--entry-point missing.py is not in" in result.err


def test_the_model_of_a_finished_job(aws, buckets, byoc) -> None:
    assert byoc(*train_args("iris-8")).code == 0
    described = boto3.client("sagemaker").describe_training_job(TrainingJobName="iris-8")
    model = trained_model.from_description(described)
    assert (model.image, model.model_data) == (IMAGE, "s3://artifacts/jobs/iris-8/output/model.tar.gz")
    # Carried over as the SDK's Model does: plain strings (sagemaker/model.py, _script_mode_env_vars).
    assert model.environment == {
        "SAGEMAKER_PROGRAM": "train.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "s3://artifacts/jobs/iris-8/source/sourcedir.tar.gz",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "us-east-1",
    }
    assert trained_model.from_description(described, program="inference.py").environment[
        "SAGEMAKER_PROGRAM"
    ] == ("inference.py")
    moto_training.script("iris-9", outcome="fail", reason="boom")
    assert byoc(*train_args("iris-9")).code == 1
    failed = boto3.client("sagemaker").describe_training_job(TrainingJobName="iris-9")
    with pytest.raises(NotDeployable, match="iris-9 is Failed, not Completed: AlgorithmError: boom"):
        trained_model.from_description(failed)


def test_stop_training_job(aws, buckets, byoc) -> None:
    assert byoc(*train_args("iris-10", "--no-wait")).code == 0
    client = boto3.client("sagemaker")
    client.stop_training_job(TrainingJobName="iris-10")
    assert client.describe_training_job(TrainingJobName="iris-10")["TrainingJobStatus"] == "Stopping"
    time.sleep(moto_training.DELAY * 2)
    described = client.describe_training_job(TrainingJobName="iris-10")
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatusTransitions"][-1]["Status"] == "Stopped"


def test_deploy_from_training_job(aws, buckets, byoc) -> None:
    assert byoc(*train_args("iris-11")).code == 0
    result = byoc(
        "deploy", "iris-ep", "--from-training-job", "iris-11", "--role", ROLE, "--skip-image-check",
        "--env", "SAGEMAKER_MODEL_SERVER_WORKERS=2",
    )  # fmt: skip
    assert result.code == 0, result.err
    client = boto3.client("sagemaker")
    assert client.describe_endpoint(EndpointName="iris-ep")["EndpointStatus"] == "InService"
    model_name = client.list_models()["Models"][0]["ModelName"]
    container = client.describe_model(ModelName=model_name)["PrimaryContainer"]
    assert container["Image"] == IMAGE
    assert container["ModelDataUrl"] == "s3://artifacts/jobs/iris-11/output/model.tar.gz"
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "train.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "s3://artifacts/jobs/iris-11/source/sourcedir.tar.gz",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "us-east-1",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
    }


def test_deploy_from_a_failed_job_or_without_a_model(aws, buckets, byoc) -> None:
    moto_training.script("iris-12", outcome="fail", reason="boom")
    assert byoc(*train_args("iris-12")).code == 1
    result = byoc("deploy", "ep", "--from-training-job", "iris-12", "--role", ROLE, "--skip-image-check")
    assert result.code == 1 and "iris-12 is Failed, not Completed: AlgorithmError: boom" in result.err
    result = byoc("deploy", "ep", "--from-training-job", "no-such-job", "--role", ROLE)
    assert result.code == 1 and "--from-training-job no-such-job: no such training job" in result.err
    result = byoc("deploy", "ep", "--role", ROLE)
    assert result.code == 2 and "--image and --model-data (or --from-training-job) required" in result.err
