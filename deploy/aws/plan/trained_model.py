"""The model a finished training job made, as `byoc deploy --from-training-job` deploys it: the job's
image, its model.tar.gz, and its code settings carried over. Pure.

As the SageMaker Python SDK's framework estimators do (sagemaker/estimator.py,
Framework.create_model with the training entry point and code; Model._script_mode_env_vars): the
serving container gets SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY from the job's
sagemaker_program and sagemaker_submit_directory, plain strings, not JSON, with
SAGEMAKER_CONTAINER_LOG_LEVEL and SAGEMAKER_REGION.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CARRIED = {
    "sagemaker_program": "SAGEMAKER_PROGRAM",
    "sagemaker_submit_directory": "SAGEMAKER_SUBMIT_DIRECTORY",
    "sagemaker_container_log_level": "SAGEMAKER_CONTAINER_LOG_LEVEL",
    "sagemaker_region": "SAGEMAKER_REGION",
}


class NotDeployable(ValueError):
    """The job has no model to deploy (not Completed, or no artifacts); the message says why."""


@dataclass(frozen=True)
class TrainedModel:
    job: str
    image: str
    model_data: str
    environment: dict[str, str] = field(default_factory=dict)


def from_description(description: Mapping[str, Any], program: str | None = None) -> TrainedModel:
    """The deployable model of DescribeTrainingJob's answer; `program` replaces the entry point."""
    name = description.get("TrainingJobName", "?")
    status = description.get("TrainingJobStatus")
    if status != "Completed":
        reason = description.get("FailureReason")
        because = f": {reason}" if reason else ""
        raise NotDeployable(f"training job {name} is {status}, not Completed{because}; it has no model")
    model_data = (description.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    image = (description.get("AlgorithmSpecification") or {}).get("TrainingImage")
    if not model_data or not image:
        raise NotDeployable(f"training job {name} names no model artifacts or no training image")
    environment = {}
    for key, variable in CARRIED.items():
        value = _decoded((description.get("HyperParameters") or {}).get(key))
        if value is not None:
            environment[variable] = value
    if program:
        environment["SAGEMAKER_PROGRAM"] = program
    return TrainedModel(job=name, image=image, model_data=model_data, environment=environment)


def _decoded(value: str | None) -> str | None:
    # The SDK sends these JSON-encoded ('"train.py"'); a boto3 user may have sent them plain.
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else str(decoded)
