"""`byoc transform`: a batch transform job on SageMaker, waited for with progress.

The model is an existing one (--model), or made for the job from --image, --model-data and --role
(CreateModel, tagged with the job's name). The job's settings are checked as CreateTransformJob
checks them before anything is created (deploy.aws.plan.transform_job). Waiting, it shows the job's
status; at the end it prints the output location and the .out objects there, or SageMaker's
FailureReason. Ctrl-C while waiting stops the job (StopTransformJob): a transform job, unlike an
endpoint, costs while it runs and nobody waits for its output.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from deploy.aws.clients.session import Aws
from deploy.aws.errors import UsageError
from deploy.aws.flows.model_config import ModelSource, check_image
from deploy.aws.output import Progress, complain, say
from deploy.aws.plan.endpoints import model_request
from deploy.aws.plan.transform_job import JobSpec, create_request, interpret
from deploy.aws.waiters import Waiting, wait

TRANSFORM_TAG = "byoc:transform-job"
LISTED_OUTPUTS = 20


@dataclass(frozen=True)
class TransformRequest:
    job: JobSpec  # its model_name: --model, or the model made from `model`
    model: ModelSource | None = None  # --image, --model-data, --role: a model made for the job
    waiting: Waiting = field(default_factory=Waiting)


def run(aws: Aws, request: TransformRequest) -> int:
    spec = request.job
    create_request(spec)  # every check, before anything is created
    if aws.sagemaker.describe_transform_job(spec.name) is not None:
        raise UsageError(
            f"transform job {spec.name} already exists: transform job names are unique per region"
        )
    if request.model is not None:
        _create_model(aws, spec, request.model)
    elif aws.sagemaker.describe_model(spec.model_name) is None:
        raise UsageError(f"--model {spec.model_name}: no such model in {aws.region}")
    capacity = f"{spec.instance_count} x {spec.instance_type}"
    say(f"creating transform job {spec.name} ({capacity}) on {spec.input_uri}")
    aws.sagemaker.create_transform_job(create_request(spec))
    if not request.waiting.enabled:
        say(f"not waiting: `aws sagemaker describe-transform-job --transform-job-name {spec.name}` shows it")
        return 0
    try:
        outcome = wait(
            lambda: aws.sagemaker.describe_transform_job(spec.name),
            interpret,
            Progress(f"transform job {spec.name}", sys.stderr),
            timeout=request.waiting.timeout,
            interval=request.waiting.interval,
        )
    except KeyboardInterrupt:
        print(file=sys.stderr)
        complain("transform", f"interrupted: stopping transform job {spec.name} (StopTransformJob)")
        aws.sagemaker.stop_transform_job(spec.name)
        return 130
    if not outcome.ok:
        complain("transform", outcome.message)
        return 1
    outputs = [key for key in aws.s3.list_keys(spec.output_uri) if key.endswith(".out")]
    bucket = spec.output_uri[len("s3://") :].split("/", 1)[0]
    for key in outputs[:LISTED_OUTPUTS]:
        print(f"s3://{bucket}/{key}", file=sys.stderr)
    if len(outputs) > LISTED_OUTPUTS:
        print(f"... and {len(outputs) - LISTED_OUTPUTS} more", file=sys.stderr)
    print(f"byoc transform: {len(outputs)} output object(s)", file=sys.stderr)
    say(spec.output_uri)
    return 0


def _create_model(aws: Aws, spec: JobSpec, source: ModelSource) -> None:
    if source.image is None or source.role is None:
        raise UsageError("a model for the job needs --image, --model-data and --role")
    if not source.model_data.startswith("s3://"):
        raise UsageError(
            f"--model-data {source.model_data}: an s3:// URI (`byoc upload` puts an archive there)"
        )
    if not aws.s3.exists(source.model_data):
        raise UsageError(f"--model-data {source.model_data}: no such S3 object")
    if source.check_image:
        check_image(aws, source.image)
    if aws.sagemaker.describe_model(spec.model_name) is not None:
        raise UsageError(
            f"model {spec.model_name} already exists: pass it with --model, or name the job anew"
        )
    arguments = model_request(
        spec.model_name,
        endpoint=spec.name,
        image=source.image,
        model_data=source.model_data,
        role=source.role,
        env=source.env,
    )
    arguments["Tags"] = [{"Key": TRANSFORM_TAG, "Value": spec.name}]
    say(f"creating model {spec.model_name} (image {source.image}, model data {source.model_data})")
    aws.sagemaker.create_model(arguments)
