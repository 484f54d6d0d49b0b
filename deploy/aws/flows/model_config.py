"""A new model and the endpoint config that serves it: what deploy and update both create.

Before anything is created: the image is one SageMaker can pull, and the model data is in S3 (a
local archive is uploaded first). A model from a training job enters here too (from_training_job);
several models behind one container would enter as another container shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from deploy.aws.clients.session import Aws
from deploy.aws.errors import AwsError, UsageError
from deploy.aws.flows.upload import upload
from deploy.aws.output import describe_capacity, say
from deploy.aws.plan import naming, trained_model
from deploy.aws.plan.endpoints import Capacity, endpoint_config_request, model_request
from deploy.aws.uris import parse_ecr_image, parse_s3_uri


@dataclass(frozen=True)
class ModelSource:
    """What a new model runs. In an update's request, image and role None keep the current model's
    and env is added to its environment."""

    model_data: str | None  # an s3:// URI, or a local model.tar.gz to upload (None: the training job's)
    image: str | None = None
    role: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    bucket: str | None = None  # for a local archive; default: sagemaker-REGION-ACCOUNT
    check_image: bool = True  # ask ECR whether the image exists
    training_job: str | None = None  # the model, image and code settings of this completed job
    program: str | None = None  # with training_job: SAGEMAKER_PROGRAM instead of the job's entry point
    # A multi-model endpoint: model_data is the S3 prefix the models are below (each invocation's
    # TargetModel), model_cache its ModelCacheSetting (None: SageMaker's default, Enabled).
    multi_model: bool = False
    model_cache: str | None = None


@dataclass(frozen=True)
class Created:
    model_name: str
    config_name: str


def create_model_and_config(
    aws: Aws,
    endpoint: str,
    model: ModelSource,
    *,
    capacity: Capacity,
    variant: str,
    data_capture: dict | None,
    async_inference: dict | None = None,
) -> Created:
    """Create the model (its image and role decided by now) and a one-variant endpoint config for it."""
    if model.image is None or model.role is None:
        raise UsageError("a new model needs --image and --role")
    model_name = naming.generate_name(endpoint, "m")
    config_name = naming.generate_name(endpoint, "c")
    model_data = _model_data(aws, model, endpoint, model_name)
    model_arguments = model_request(
        model_name,
        endpoint=endpoint,
        image=model.image,
        model_data=model_data,
        role=model.role,
        env=model.env,
        multi_model=model.multi_model,
        model_cache=model.model_cache,
    )
    config_arguments = endpoint_config_request(
        config_name,
        endpoint=endpoint,
        model_name=model_name,
        capacity=capacity,
        variant=variant,
        data_capture=data_capture,
        async_inference=async_inference,
    )
    say(f"creating model {model_name} (image {model.image}, model data {model_data})")
    aws.sagemaker.create_model(model_arguments)
    kind = ", asynchronous" if async_inference else ""
    say(f"creating endpoint config {config_name} ({describe_capacity(capacity)}, variant {variant}{kind})")
    aws.sagemaker.create_endpoint_config(config_arguments)
    return Created(model_name, config_name)


def from_training_job(aws: Aws, model: ModelSource) -> ModelSource:
    """`model` with what its training job supplies (deploy.aws.plan.trained_model); itself without one.

    The job's image and environment come first: --image and --env given explicitly win.
    """
    if model.training_job is None:
        return model
    description = aws.sagemaker.describe_training_job(model.training_job)
    if description is None:
        raise AwsError(f"--from-training-job {model.training_job}: no such training job")
    try:
        trained = trained_model.from_description(description, program=model.program)
    except trained_model.NotDeployable as exc:
        raise AwsError(str(exc)) from None
    say(f"the model of training job {trained.job}: {trained.model_data} (image {trained.image})")
    return replace(
        model,
        model_data=trained.model_data,
        image=model.image or trained.image,
        env={**trained.environment, **model.env},
    )


def check_image(aws: Aws, uri: str) -> None:
    """Refuse, before anything is created, an image SageMaker could not pull: it would fail the
    endpoint only after many minutes. Images outside ECR get a note (SageMaker pulls from ECR, or
    from a private registry reached through a VPC)."""
    image = parse_ecr_image(uri)
    if image is None:
        say(f"note: {uri} is not an ECR image; SageMaker pulls from ECR (or a private registry in your VPC)")
        return
    if image.region != aws.region:
        raise UsageError(
            f"--image {uri} is in ECR of {image.region}, the endpoint in {aws.region}: SageMaker pulls "
            "from ECR of its own region (push there with build_and_push.sh --region)"
        )
    problem = aws.ecr.image_problem(image)
    if problem:
        raise UsageError(f"--image {uri}: ECR has no such image ({problem}); --skip-image-check to go on")


def remove(aws: Aws, configs: list[str], models: list[str]) -> None:
    """Delete endpoint configs, then models, saying which were there."""
    for name in configs:
        if aws.sagemaker.delete("endpoint_config", name):
            say(f"deleted endpoint config {name}")
    for name in models:
        if aws.sagemaker.delete("model", name):
            say(f"deleted model {name}")


def _model_data(aws: Aws, source: ModelSource, endpoint: str, model_name: str) -> str:
    """The model data's S3 URI: checked when it is one, uploaded when it is a local archive."""
    value = source.model_data
    if value is None:
        raise UsageError("--model-data (or --from-training-job) is required")
    if source.multi_model:
        # A prefix: its models may be uploaded later (InvokeEndpoint loads each on first use).
        if not value.startswith("s3://"):
            raise UsageError(f"--model-data-prefix {value}: a multi-model endpoint's models are in S3")
        parse_s3_uri(value)
        return value if value.endswith("/") else value + "/"
    if value.startswith("s3://"):
        parse_s3_uri(value)
        if not aws.s3.exists(value):
            raise UsageError(f"--model-data {value}: no such S3 object (SageMaker would fail minutes later)")
        return value
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"--model-data {value}: neither an s3:// URI nor a local file")
    bucket = source.bucket or aws.s3.ensure_bucket(naming.default_bucket(aws.region, aws.account))
    return upload(aws, path, naming.upload_uri(bucket, endpoint, model_name))
