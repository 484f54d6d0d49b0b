"""The CreateTrainingJob request `byoc train` sends: what the SageMaker Python SDK 2.x sends for the
same Estimator (sagemaker/session.py, Session._get_train_request; sagemaker/inputs.py TrainingInput).
Pure.

Shapes from the API reference (CreateTrainingJob,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deploy.training_inputs import Channel, InputError

JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
DEFAULT_MAX_RUN = 24 * 60 * 60  # the SDK's max_run
DEFAULT_VOLUME_GB = 30


@dataclass(frozen=True)
class JobSpec:
    name: str
    image: str
    role: str
    hyperparameters: Mapping[str, str]
    channels: Sequence[Channel]
    instance_type: str
    instance_count: int
    output_path: str
    max_run: int = DEFAULT_MAX_RUN
    spot: bool = False
    max_wait: int | None = None
    volume_gb: int = DEFAULT_VOLUME_GB


def validate_job_name(name: str) -> str:
    if not JOB_NAME.fullmatch(name):
        raise InputError(
            f"{name!r} is not a training job name: 1 to 63 of a-z A-Z 0-9 and -, not starting with -"
        )
    return name


def source_key(output_path: str, job: str) -> tuple[str, str]:
    """Where the SDK puts sourcedir.tar.gz: s3://<output bucket>/<prefix>/<job>/source/sourcedir.tar.gz
    (sagemaker/estimator.py, EstimatorBase._assign_s3_prefix and fw_utils.tar_and_upload_dir)."""
    bucket, prefix = split_s3(output_path)
    key = "/".join(part for part in (prefix.strip("/"), job, "source", "sourcedir.tar.gz") if part)
    return bucket, key


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise InputError(f"{uri!r} is not an s3:// URI")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def build(spec: JobSpec) -> dict[str, Any]:
    validate_job_name(spec.name)
    if spec.instance_count < 1:
        raise InputError("--instance-count must be at least 1")
    if spec.max_run < 1:
        raise InputError("--max-run must be at least 1 second")
    split_s3(spec.output_path)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": spec.max_run}
    request: dict[str, Any] = {
        "TrainingJobName": spec.name,
        "AlgorithmSpecification": {"TrainingImage": spec.image, "TrainingInputMode": "File"},
        "RoleArn": spec.role,
        "HyperParameters": dict(spec.hyperparameters),
        "InputDataConfig": [_channel(channel) for channel in spec.channels],
        "OutputDataConfig": {"S3OutputPath": spec.output_path},
        "ResourceConfig": {
            "InstanceType": spec.instance_type,
            "InstanceCount": spec.instance_count,
            "VolumeSizeInGB": spec.volume_gb,
        },
        "StoppingCondition": stopping,
    }
    if spec.spot:
        # Managed spot training needs MaxWaitTimeInSeconds, at least MaxRuntimeInSeconds.
        max_wait = spec.max_wait or spec.max_run
        if max_wait < spec.max_run:
            raise InputError("--max-wait must be at least --max-run")
        stopping["MaxWaitTimeInSeconds"] = max_wait
        request["EnableManagedSpotTraining"] = True
    elif spec.max_wait is not None:
        raise InputError("--max-wait is for --spot jobs")
    return request


def _channel(channel: Channel) -> dict[str, Any]:
    if not channel.location.startswith("s3://"):
        raise InputError(f"--channel {channel.name}: a training job reads S3; got {channel.location}")
    return {
        "ChannelName": channel.name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": channel.location,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
