"""`byoc transform` on SageMaker: the CreateTransformJob request, and what a DescribeTransformJob says. Pure.

SageMaker API reference, CreateTransformJob: TransformJobName (1-63, letters, digits, hyphens),
ModelName, TransformInput (DataSource.S3DataSource {S3DataType, S3Uri}, ContentType, SplitType,
CompressionType), TransformOutput (S3OutputPath, Accept, AssembleWith), TransformResources
(InstanceType, InstanceCount), BatchStrategy, MaxPayloadInMB, MaxConcurrentTransforms,
ModelClientConfig (InvocationsTimeoutInSeconds 1-3600, InvocationsMaxRetries 0-3), Environment (at
most 16), DataProcessing. DescribeTransformJob: TransformJobStatus InProgress, Completed, Failed,
Stopping, Stopped, and FailureReason when Failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from deploy.async_inference.locations import LocationError, parse_s3_uri
from deploy.transform.settings import TransformSettings

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MAX_ENVIRONMENT = 16
WAITING = ("InProgress", "Stopping")


class JobRequestError(ValueError):
    pass


@dataclass(frozen=True)
class JobSpec:
    name: str
    model_name: str
    input_uri: str
    output_uri: str
    instance_type: str
    settings: TransformSettings
    instance_count: int = 1
    environment: Mapping[str, str] | None = None
    invocation_timeout: int | None = None
    max_retries: int | None = None
    manifest: bool = False  # S3DataType ManifestFile instead of S3Prefix
    gzip: bool = False  # CompressionType Gzip


def create_request(spec: JobSpec) -> dict:
    """The CreateTransformJob request; JobRequestError (or SettingsError) with what would be refused."""
    if not JOB_NAME.match(spec.name):
        raise JobRequestError(
            f"{spec.name!r} is not a valid transform job name: letters, digits and hyphens, at most 63, "
            "starting and ending with a letter or digit"
        )
    processing = spec.settings.check()
    for flag, uri in (("--input", spec.input_uri), ("--output", spec.output_uri)):
        try:
            parse_s3_uri(uri, flag)
        except LocationError as exc:
            raise JobRequestError(str(exc)) from None
    environment = dict(spec.environment or {})
    if len(environment) > MAX_ENVIRONMENT:
        raise JobRequestError(
            f"{len(environment)} --env entries: a transform job takes at most {MAX_ENVIRONMENT}"
        )
    if spec.invocation_timeout is not None and not 1 <= spec.invocation_timeout <= 3600:
        raise JobRequestError(f"--invocation-timeout {spec.invocation_timeout}: 1 to 3600 seconds")
    if spec.max_retries is not None and not 0 <= spec.max_retries <= 3:
        raise JobRequestError(f"--max-retries {spec.max_retries}: 0 to 3")
    settings = spec.settings
    transform_input: dict = {
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "ManifestFile" if spec.manifest else "S3Prefix",
                "S3Uri": spec.input_uri,
            }
        },
        "SplitType": settings.split_type,
        "CompressionType": "Gzip" if spec.gzip else "None",
    }
    if settings.content_type:
        transform_input["ContentType"] = settings.content_type
    transform_output: dict = {"S3OutputPath": spec.output_uri, "AssembleWith": settings.assemble_with}
    if settings.accept:
        transform_output["Accept"] = settings.accept
    request: dict = {
        "TransformJobName": spec.name,
        "ModelName": spec.model_name,
        "TransformInput": transform_input,
        "TransformOutput": transform_output,
        "TransformResources": {"InstanceType": spec.instance_type, "InstanceCount": spec.instance_count},
    }
    if settings.batch_strategy:
        request["BatchStrategy"] = settings.batch_strategy
    if settings.max_payload_mb is not None:
        request["MaxPayloadInMB"] = settings.max_payload_mb
    if settings.max_concurrent is not None:
        request["MaxConcurrentTransforms"] = settings.max_concurrent
    client_config = {}
    if spec.invocation_timeout is not None:
        client_config["InvocationsTimeoutInSeconds"] = spec.invocation_timeout
    if spec.max_retries is not None:
        client_config["InvocationsMaxRetries"] = spec.max_retries
    if client_config:
        request["ModelClientConfig"] = client_config
    if environment:
        request["Environment"] = environment
    if processing.active:
        request["DataProcessing"] = {
            "InputFilter": settings.input_filter,
            "JoinSource": settings.join_source,
            "OutputFilter": settings.output_filter,
        }
    return request


@dataclass(frozen=True)
class JobState:
    done: bool
    ok: bool
    status: str
    message: str = ""


def interpret(describe: Mapping | None) -> JobState:
    """Where a DescribeTransformJob answer leaves the wait: Completed is success; Failed, Stopped,
    or a job that is gone, failure (with FailureReason)."""
    if describe is None:
        return JobState(True, False, "Gone", "the transform job does not exist")
    status = str(describe.get("TransformJobStatus", ""))
    if status == "Completed":
        return JobState(True, True, status)
    if status in WAITING:
        return JobState(False, False, status)
    reason = describe.get("FailureReason") or "no FailureReason given"
    return JobState(
        True, False, status, f"transform job {describe.get('TransformJobName', '')} is {status}: {reason}"
    )
