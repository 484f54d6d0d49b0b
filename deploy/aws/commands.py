"""The AWS commands' command line: each parser, and the typed request its arguments become.

Arguments are parsed once, here, into a flow's request (frozen dataclasses, checked before AWS is
asked anything); the flow does the rest. Exit status: 0 done, 1 AWS or the endpoint said no,
2 arguments that cannot work, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from deploy.async_inference.config import AsyncConfigError, AsyncSettings
from deploy.aws.clients.botocore_errors import error_message
from deploy.aws.clients.session import Aws
from deploy.aws.errors import AwsError, UsageError
from deploy.aws.flows import (
    autoscale,
    delete,
    deploy,
    invoke,
    metrics,
    push,
    status,
    train,
    transform,
    update,
    upload,
)
from deploy.aws.flows.model_config import ModelSource
from deploy.aws.output import complain
from deploy.aws.plan import training
from deploy.aws.plan.async_scaling import AsyncScalingError, BacklogScaling
from deploy.aws.plan.endpoints import (
    DEFAULT_INSTANCE_TYPE,
    TRAFFIC_STRATEGIES,
    Capacity,
    DataCapture,
    Traffic,
    validate_role,
)
from deploy.aws.plan.metrics import parse_since
from deploy.aws.plan.scaling import Scaling
from deploy.aws.plan.transform_job import JobSpec
from deploy.aws.uris import parse_s3_uri
from deploy.aws.waiters import POLL_SECONDS, Waiting, WaitTimeout
from deploy.container_env import parse_env
from deploy.sagemaker_names import DEFAULT_VARIANT, validate_name
from deploy.training_inputs import parse_channels, parse_hyperparameters, script_mode_hyperparameters
from deploy.transform.arguments import add_data_arguments, settings_from

POLL_ENV = "BYOC_POLL_SECONDS"  # how often a waiting command asks AWS (tests make it short)

Command = Callable[[argparse.Namespace], int]

# An option's default is its typed value's (a dataclass field's default is its class attribute:
# Traffic.percent, Waiting.timeout, ...), so the parser repeats none of them.


def register(commands: argparse._SubParsersAction) -> None:
    for add in (
        _push,
        _upload,
        _train,
        _deploy,
        _update,
        _invoke,
        _autoscale,
        _transform,
        _delete,
        _metrics,
        _status,
    ):
        add(commands)


# --- push and upload ---------------------------------------------------------------------------


def _push(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "push",
        "build the image and push it to ECR",
        "Build this project's serving image and push it to ECR with build_and_push.sh (from a checkout "
        "of the project). Prints the image URI and its digest.",
    )
    parser.add_argument("image_name", metavar="IMAGE_NAME", help="the ECR repository name")
    parser.add_argument("tag", metavar="TAG", nargs="?", help="the image tag (default: the git commit)")
    parser.add_argument(
        "--registry",
        metavar="HOST[:PORT]",
        help="push here instead of ECR's registry host (also BYOC_REGISTRY)",
    )
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="passed to docker build (repeatable)",
    )
    parser.add_argument(
        "--platform", help="docker build --platform (default: linux/amd64 on hosts that are not)"
    )
    parser.add_argument("--network", metavar="MODE", help="docker build --network (e.g. host)")
    parser.add_argument("-f", "--file", metavar="DOCKERFILE", help="the Dockerfile (default: the project's)")
    parser.add_argument("--context", metavar="DIR", help="the build context (default: the project's root)")
    parser.add_argument("--no-latest", action="store_true", help='do not also tag and push "latest"')
    _region(parser)

    def run(args: argparse.Namespace) -> int:
        return push.run(
            push.PushRequest(
                image_name=args.image_name,
                tag=args.tag,
                region=args.region,
                registry=args.registry,
                build_args=tuple(args.build_arg),
                platform=args.platform,
                network=args.network,
                dockerfile=args.file,
                context=args.context,
                latest=not args.no_latest,
            )
        )

    parser.set_defaults(run=_guarded("push", run))


def _upload(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "upload",
        "upload model.tar.gz to S3",
        "Upload a model archive (model.tar.gz, as `byoc package` makes it) to S3. Prints its S3 URI.",
    )
    parser.add_argument("archive", metavar="ARCHIVE", type=Path, help="the model.tar.gz to upload")
    parser.add_argument(
        "destination",
        metavar="S3_URI",
        help="s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ to keep the file's name",
    )
    _region(parser)

    def run(args: argparse.Namespace) -> int:
        return upload.run(Aws(args.region), upload.UploadRequest(args.archive, args.destination))

    parser.set_defaults(run=_guarded("upload", run))


# --- train ------------------------------------------------------------------------------------


def _train(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "train",
        "run a SageMaker training job (script mode) and follow it to its end",
        "Upload --source-dir as sourcedir.tar.gz, create a training job with the hyperparameters the "
        "SageMaker Python SDK would send for Estimator(image_uri, entry_point, source_dir, "
        "hyperparameters), follow its status, transitions and log, and print its model artifact's URI "
        "(or its FailureReason, exit status 1).",
    )
    parser.add_argument("job", metavar="JOB", help="the training job's name")
    required = parser.add_argument_group("required")
    required.add_argument(
        "--image", required=True, help="the training image (run as `docker run IMAGE train`)"
    )
    required.add_argument("--role", required=True, metavar="ARN", help="the SageMaker execution role's ARN")
    required.add_argument(
        "--entry-point", required=True, metavar="FILE", help="the script to run, in --source-dir"
    )
    required.add_argument(
        "--source-dir", required=True, type=Path, metavar="DIR", help="the code's directory"
    )
    required.add_argument("--instance-type", required=True, metavar="TYPE", help="e.g. ml.m5.large")
    required.add_argument(
        "--output", required=True, metavar="S3_URI", help="where the job writes its artifacts"
    )
    parser.add_argument(
        "--channel", action="append", default=[], metavar="NAME=S3_URI", help="an input channel (repeatable)"
    )
    parser.add_argument(
        "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
        help="passed to the script as --NAME VALUE (repeatable); VALUE is read as JSON where it is JSON",
    )  # fmt: skip
    parser.add_argument("--instance-count", metavar="N", type=int, default=1, help="instances (default: 1)")
    parser.add_argument(
        "--max-run", metavar="SECONDS", type=int, default=training.DEFAULT_MAX_RUN,
        help="MaxRuntimeInSeconds (default: %(default)s, a day)",
    )  # fmt: skip
    parser.add_argument("--spot", action="store_true", help="managed spot training")
    parser.add_argument("--max-wait", metavar="SECONDS", type=int, help="with --spot: default --max-run")
    parser.add_argument("--no-wait", action="store_true", help="return once SageMaker accepted the job")
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        help="how long to follow the job (default: --max-run + 1 hour)",
    )
    _region(parser)
    parser.set_defaults(run=_guarded("train", _run_train))


def _run_train(args: argparse.Namespace) -> int:
    if not (args.source_dir / args.entry_point).is_file():
        raise UsageError(f"--entry-point {args.entry_point} is not in {args.source_dir}")
    name = training.validate_job_name(args.job)
    aws = Aws(args.region)
    bucket, key = training.source_key(args.output, name)
    hyperparameters = script_mode_hyperparameters(
        parse_hyperparameters(args.hyperparameter),
        program=args.entry_point, submit_directory=f"s3://{bucket}/{key}", job_name=name, region=aws.region,
    )  # fmt: skip
    spec = training.JobSpec(
        name=name, image=args.image, role=validate_role(args.role), hyperparameters=hyperparameters,
        channels=parse_channels(args.channel), instance_type=args.instance_type,
        instance_count=args.instance_count, output_path=args.output, max_run=args.max_run,
        spot=args.spot, max_wait=args.max_wait,
    )  # fmt: skip
    training.build(spec)  # every argument checked before anything is uploaded
    if args.timeout is None:
        args.timeout = float(args.max_run + 3600)
    request = train.TrainRequest(spec, args.source_dir, bucket, key, _waiting(args))
    return train.run(aws, request)


# --- deploy and update -------------------------------------------------------------------------


def _deploy(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "deploy",
        "create a SageMaker endpoint and wait until it is InService",
        "Create a model, an endpoint config and an endpoint, and wait until the endpoint is InService "
        "(or failed, with SageMaker's reason). The image must be in ECR of the endpoint's region.",
    )
    _endpoint(parser)
    required = parser.add_argument_group("required")
    required.add_argument(
        "--image",
        help="the image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG); with --from-training-job, "
        "default: the job's",
    )
    required.add_argument(
        "--model-data",
        metavar="S3_URI|PATH",
        help="an s3:// URI, or a local model.tar.gz to upload (or --from-training-job, or --multi-model)",
    )
    required.add_argument("--role", required=True, metavar="ARN", help="the SageMaker execution role's ARN")
    multi = parser.add_argument_group("a multi-model endpoint (instead of --model-data)")
    multi.add_argument(
        "--multi-model",
        action="store_true",
        help="serve every model below --model-data-prefix, each loaded on its first invocation "
        "(byoc invoke --target-model); the image must carry the multi-models label",
    )
    multi.add_argument(
        "--model-data-prefix", metavar="S3_PREFIX", help="with --multi-model: the s3:// prefix of the models"
    )
    multi.add_argument(
        "--model-cache",
        choices=["Enabled", "Disabled"],
        help="with --multi-model, ModelCacheSetting: Disabled unloads each model after its invocation "
        "(default: SageMaker's, Enabled)",
    )
    parser.add_argument(
        "--from-training-job",
        metavar="JOB",
        help="deploy the model of this completed training job: its model.tar.gz, image and code "
        "settings (SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY); --image and --env override",
    )
    parser.add_argument(
        "--entry-point",
        metavar="FILE",
        help="with --from-training-job: serve with this script of the job's code (SAGEMAKER_PROGRAM)",
    )
    parser.add_argument(
        "--instance-type", metavar="TYPE", help=f"the instance type (default: {DEFAULT_INSTANCE_TYPE})"
    )
    parser.add_argument(
        "--instance-count",
        metavar="N",
        type=int,
        default=Capacity.instance_count,
        help="instances behind the endpoint (default: %(default)s)",
    )
    parser.add_argument(
        "--serverless-memory",
        metavar="MB",
        type=int,
        help="serverless instead of instances: memory per instance (1024 to 6144, in steps of 1024)",
    )
    parser.add_argument(
        "--serverless-concurrency",
        metavar="N",
        type=int,
        help="serverless: concurrent invocations (1 to 200)",
    )
    parser.add_argument(
        "--variant",
        metavar="NAME",
        default=DEFAULT_VARIANT,
        help="the variant's name (default: %(default)s)",
    )
    parser.add_argument(
        "--data-capture", metavar="S3_URI", help="capture requests and responses under this prefix"
    )
    parser.add_argument(
        "--data-capture-percent",
        metavar="PERCENT",
        type=int,
        default=DataCapture.percent,
        help="share captured (default: %(default)s)",
    )
    parser.add_argument(
        "--update", action="store_true", help="when the endpoint exists, update it (as byoc update)"
    )
    asynchronous = parser.add_argument_group(
        "asynchronous inference (AsyncInferenceConfig: the endpoint then takes InvokeEndpointAsync only)"
    )
    asynchronous.add_argument(
        "--async-output", metavar="S3_URI", help="where results go (S3OutputPath); makes the endpoint async"
    )
    asynchronous.add_argument(
        "--async-failure", metavar="S3_URI", help="where errors go (S3FailurePath; default: with the results)"
    )
    asynchronous.add_argument(
        "--async-max-concurrent",
        metavar="N",
        type=int,
        help="requests in flight per instance, 1-1000 (default: SageMaker chooses)",
    )
    asynchronous.add_argument("--sns-success", metavar="ARN", help="an SNS topic told of each result")
    asynchronous.add_argument("--sns-error", metavar="ARN", help="an SNS topic told of each error")
    _model_options(parser)
    _wait_options(parser)
    _region(parser)
    parser.set_defaults(run=_guarded("deploy", _run_deploy))


def _run_deploy(args: argparse.Namespace) -> int:
    endpoint = validate_name(args.endpoint)
    serverless = args.serverless_memory is not None or args.serverless_concurrency is not None
    if serverless and args.instance_type:
        raise UsageError("--instance-type and --serverless-* exclude each other")
    if args.model_cache and not args.multi_model:
        raise UsageError("--model-cache is a setting of --multi-model endpoints")
    if args.multi_model or args.model_data_prefix is not None:
        alone = not (args.model_data or args.from_training_job)
        if not args.multi_model or args.model_data_prefix is None or not alone:
            raise UsageError(
                "--multi-model goes with --model-data-prefix "
                "(and without --model-data or --from-training-job)"
            )
        if not args.image:
            raise UsageError("--image is required")
        if serverless:
            raise UsageError("a multi-model endpoint runs on instances, not serverless")
        if args.entry_point:
            raise UsageError("--entry-point goes with --from-training-job")
    elif args.from_training_job is None:
        missing = [
            option
            for option, value in (("--image", args.image), ("--model-data", args.model_data))
            if not value
        ]
        if missing:
            raise UsageError(f"{' and '.join(missing)} (or --from-training-job) required")
        if args.entry_point:
            raise UsageError("--entry-point goes with --from-training-job")
    elif args.model_data:
        raise UsageError("--model-data and --from-training-job exclude each other")
    model = _model_source(args, image=args.image, role=validate_role(args.role))
    if args.multi_model:
        model = dataclasses.replace(
            model, model_data=args.model_data_prefix, multi_model=True, model_cache=args.model_cache
        )
    waiting = _waiting(args)
    request = deploy.DeployRequest(
        endpoint=endpoint,
        model=model,
        capacity=Capacity(
            instance_type=None if serverless else (args.instance_type or DEFAULT_INSTANCE_TYPE),
            instance_count=args.instance_count,
            serverless_memory_mb=args.serverless_memory,
            serverless_concurrency=args.serverless_concurrency,
        ).validate(),
        variant=validate_name(args.variant, "variant"),
        data_capture=(
            DataCapture(args.data_capture, args.data_capture_percent).validate()
            if args.data_capture
            else None
        ),
        asynchronous=_async_settings(args),
        waiting=waiting,
        update_instead=(
            update.UpdateRequest(endpoint, model, instance_type=args.instance_type, waiting=waiting)
            if args.update
            else None
        ),
    )
    return deploy.run(Aws(args.region), request)


def _async_settings(args: argparse.Namespace) -> AsyncSettings | None:
    """deploy's async flags as AsyncInferenceConfig settings, checked; None for a real-time endpoint."""
    others = (args.async_failure, args.async_max_concurrent, args.sns_success, args.sns_error)
    if args.async_output is None:
        if any(value is not None for value in others):
            raise UsageError("--async-failure, --async-max-concurrent and --sns-* need --async-output")
        return None
    settings = AsyncSettings(
        output_path=args.async_output,
        failure_path=args.async_failure,
        max_concurrent_per_instance=args.async_max_concurrent,
        success_topic=args.sns_success,
        error_topic=args.sns_error,
    )
    try:
        return settings.check()
    except AsyncConfigError as exc:
        raise UsageError(str(exc)) from None


def _update(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "update",
        "replace an endpoint's model without downtime (blue/green)",
        "Create a new model and endpoint config from the endpoint's current ones and what you pass, "
        "shift the traffic to them (SageMaker's blue/green: all at once, canary or linear, rolled back "
        "by CloudWatch alarms) and delete the old ones once the endpoint is InService on the new.",
    )
    _endpoint(parser)
    required = parser.add_argument_group("required")
    required.add_argument(
        "--model-data",
        required=True,
        metavar="S3_URI|PATH",
        help="an s3:// URI, or a local model.tar.gz to upload",
    )
    parser.add_argument("--image", help="a new image URI (default: the image the endpoint runs now)")
    parser.add_argument("--role", metavar="ARN", help="a new execution role (default: the current model's)")
    parser.add_argument(
        "--instance-type", metavar="TYPE", help="a new instance type (default: the current one)"
    )
    parser.add_argument(
        "--instance-count", metavar="N", type=int, help="instances (default: the current count)"
    )
    parser.add_argument(
        "--traffic",
        choices=TRAFFIC_STRATEGIES,
        default=Traffic.strategy,
        help="how traffic moves to the new model (default: %(default)s)",
    )
    parser.add_argument(
        "--traffic-percent",
        metavar="PERCENT",
        type=int,
        default=Traffic.percent,
        help="the canary's size, or the linear step (default: %(default)s)",
    )
    parser.add_argument(
        "--traffic-wait",
        metavar="SECONDS",
        type=int,
        default=Traffic.wait_seconds,
        help="seconds between traffic shifts (default: %(default)s)",
    )
    parser.add_argument(
        "--rollback-alarm",
        metavar="ALARM",
        action="append",
        default=[],
        help="a CloudWatch alarm that rolls the update back (repeatable)",
    )
    parser.add_argument("--keep-old", action="store_true", help="keep the old model and endpoint config")
    _model_options(parser)
    _wait_options(parser)
    _region(parser)
    parser.set_defaults(run=_guarded("update", _run_update))


def _run_update(args: argparse.Namespace) -> int:
    request = update.UpdateRequest(
        endpoint=validate_name(args.endpoint),
        model=_model_source(args, image=args.image, role=validate_role(args.role) if args.role else None),
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        traffic=Traffic(
            args.traffic, args.traffic_percent, args.traffic_wait, tuple(args.rollback_alarm)
        ).validate(),
        keep_old=args.keep_old,
        waiting=_waiting(args),
    )
    return update.run(Aws(args.region), request)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable of the container (repeatable)",
    )
    parser.add_argument(
        "--bucket", help="where a local --model-data is uploaded (default: sagemaker-REGION-ACCOUNT)"
    )
    parser.add_argument(
        "--skip-image-check", action="store_true", help="do not ask ECR whether the image exists"
    )


def _model_source(args: argparse.Namespace, *, image: str | None, role: str | None) -> ModelSource:
    return ModelSource(
        model_data=args.model_data,
        image=image,
        role=role,
        env=parse_env(args.env),
        bucket=args.bucket,
        check_image=not args.skip_image_check,
        training_job=getattr(args, "from_training_job", None),
        program=getattr(args, "entry_point", None),
    )


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="return once AWS accepted the request")
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=Waiting.timeout,
        help="how long to wait for the endpoint (default: %(default)g)",
    )


def _waiting(args: argparse.Namespace) -> Waiting:
    return Waiting(enabled=not args.no_wait, timeout=args.timeout, interval=_poll_seconds())


def _poll_seconds() -> float:
    text = os.environ.get(POLL_ENV, "").strip()
    try:
        interval = float(text) if text else POLL_SECONDS
    except ValueError:
        raise UsageError(f"{POLL_ENV}={text!r}: seconds between polls, a number") from None
    if interval <= 0:
        raise UsageError(f"{POLL_ENV}={text!r}: seconds between polls, above 0")
    return interval


# --- invoke and autoscale ----------------------------------------------------------------------


def _invoke(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "invoke",
        "send one request to an endpoint",
        "Send one request to an endpoint (InvokeEndpoint) and print the status, the answer's headers "
        "and its body; a model error prints the container's own status and message. With --async, "
        "InvokeEndpointAsync: the input in S3 (--input) or inline (at most 128,000 bytes), then the "
        "result (or error) object waited for and printed.",
    )
    _endpoint(parser)
    required = parser.add_argument_group("required")
    required.add_argument("--content-type", required=True, metavar="MEDIA_TYPE", help="the body's media type")
    body = required.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="the request body, as text")
    body.add_argument("--file", type=Path, help="a file holding the request body")
    body.add_argument("--input", metavar="S3_URI", help="with --async: the request body's S3 object")
    parser.add_argument("--accept", metavar="MEDIA_TYPE", help="the media type to answer in")
    parser.add_argument("--custom-attributes", metavar="TEXT", help="passed to the container as is")
    parser.add_argument("--inference-id", metavar="ID", help="an id for data capture")
    parser.add_argument("--target-variant", metavar="NAME", help="the variant to send the request to")
    asynchronous = parser.add_argument_group("asynchronous endpoints (InvokeEndpointAsync)")
    asynchronous.add_argument("--async", dest="asynchronous", action="store_true", help="InvokeEndpointAsync")
    asynchronous.add_argument(
        "--ttl",
        metavar="SECONDS",
        type=int,
        help="RequestTTLSeconds: the longest wait in the queue (60-21600)",
    )
    asynchronous.add_argument(
        "--invocation-timeout", metavar="SECONDS", type=int, help="InvocationTimeoutSeconds (1-3600)"
    )
    asynchronous.add_argument(
        "--wait",
        metavar="SECONDS",
        type=float,
        default=invoke.AsyncInvokeRequest.wait_seconds,
        help="how long to wait for the result; 0: print its location and return (default: %(default)g)",
    )
    parser.add_argument(
        "--target-model",
        metavar="PATH",
        help="a multi-model endpoint's model: its archive's path below the prefix (a.tar.gz)",
    )
    _region(parser)

    def run(args: argparse.Namespace) -> int:
        if args.asynchronous:
            return invoke.run_async(Aws(args.region), _async_invoke(args))
        if args.input or args.ttl is not None or args.invocation_timeout is not None:
            raise UsageError("--input, --ttl and --invocation-timeout are for --async")
        request = invoke.InvokeRequest(
            endpoint=validate_name(args.endpoint),
            body=_body(args.body, args.file),
            content_type=args.content_type,
            accept=args.accept,
            custom_attributes=args.custom_attributes,
            inference_id=args.inference_id,
            target_variant=args.target_variant,
            target_model=args.target_model,
        )
        return invoke.run(Aws(args.region), request)

    parser.set_defaults(run=_guarded("invoke", run))


def _async_invoke(args: argparse.Namespace) -> invoke.AsyncInvokeRequest:
    if args.target_variant:
        raise UsageError("--target-variant is not a parameter of InvokeEndpointAsync")
    if args.input is not None:
        parse_s3_uri(args.input)
    return invoke.AsyncInvokeRequest(
        endpoint=validate_name(args.endpoint),
        content_type=args.content_type,
        input_location=args.input,
        body=None if args.input else _body(args.body, args.file),
        accept=args.accept,
        custom_attributes=args.custom_attributes,
        inference_id=args.inference_id,
        ttl_seconds=args.ttl,
        invocation_timeout_seconds=args.invocation_timeout,
        wait_seconds=args.wait,
        poll_seconds=_poll_seconds(),
    )


def _body(text: str | None, path: Path | None) -> bytes:
    if path is None:
        return (text or "").encode()
    if not path.is_file():
        raise UsageError(f"--file {path}: no such file")
    return path.read_bytes()


class _RemoveScaling(argparse.Action):
    """--remove, the other form of `byoc autoscale`: it takes none of the policy's options.

    argparse has no "required unless"; this action, run while the arguments are parsed, lifts the
    requirement from the options a removal does not take (their parser is built for one parse).
    """

    def __init__(self, option_strings: list[str], dest: str, policy: list[argparse.Action], **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)
        self.policy = policy

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, True)
        for action in self.policy:
            action.required = False


class _AsyncScaling(_RemoveScaling):
    """--async: the backlog policy instead of the invocations one, so --target-invocations is not needed."""


def _autoscale(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "autoscale",
        "target-tracking auto scaling on invocations per instance, or an async endpoint's queue",
        "Scale an endpoint variant's instances to keep its invocations per instance per minute near a "
        "target (Application Auto Scaling); with --async, an asynchronous endpoint's requests per instance "
        "(ApproximateBacklogSizePerInstance), down to zero instances with --min 0; or remove that with "
        "--remove.",
        usage="byoc autoscale ENDPOINT --min N --max N --target-invocations PER_MINUTE [options]\n"
        "       byoc autoscale ENDPOINT --async --min N --max N [--target-backlog REQUESTS] [options]\n"
        "       byoc autoscale ENDPOINT --remove [--variant NAME] [--region REGION]",
    )
    _endpoint(parser)
    required = parser.add_argument_group("required (unless --remove)")
    policy = [
        required.add_argument(
            "--min", metavar="N", type=int, dest="min_capacity", required=True, help="the fewest instances"
        ),
        required.add_argument(
            "--max", metavar="N", type=int, dest="max_capacity", required=True, help="the most instances"
        ),
        required.add_argument(
            "--target-invocations",
            metavar="PER_MINUTE",
            type=float,
            required=True,
            help="the invocations per instance per minute to keep near",
        ),
    ]
    parser.add_argument(
        "--scale-in-cooldown",
        metavar="SECONDS",
        type=int,
        default=Scaling.scale_in_cooldown,
        help="seconds after a scale-in before the next (default: %(default)s)",
    )
    parser.add_argument(
        "--scale-out-cooldown",
        metavar="SECONDS",
        type=int,
        default=Scaling.scale_out_cooldown,
        help="seconds after a scale-out before the next (default: %(default)s)",
    )
    parser.add_argument("--variant", metavar="NAME", help="the variant (default: the endpoint's only one)")
    parser.add_argument(
        "--remove",
        action=_RemoveScaling,
        policy=policy,
        help="remove the policy and the scalable target instead",
    )
    asynchronous = parser.add_argument_group("asynchronous endpoints (deployed with --async-output)")
    asynchronous.add_argument(
        "--async",
        dest="asynchronous",
        action=_AsyncScaling,
        policy=policy[2:],
        help="scale on the queue (ApproximateBacklogSizePerInstance) instead; --min may be 0",
    )
    asynchronous.add_argument(
        "--target-backlog",
        metavar="REQUESTS",
        type=float,
        default=BacklogScaling.target_backlog_per_instance,
        help="the requests per instance to keep near (default: %(default)g, AWS's example)",
    )
    _region(parser)

    def run(args: argparse.Namespace) -> int:
        endpoint = validate_name(args.endpoint)
        if args.remove:
            return autoscale.remove(Aws(args.region), autoscale.RemoveScalingRequest(endpoint, args.variant))
        if args.asynchronous:
            backlog = BacklogScaling(
                args.min_capacity,
                args.max_capacity,
                args.target_backlog,
                args.scale_in_cooldown,
                args.scale_out_cooldown,
            )
            try:
                backlog.check()
            except AsyncScalingError as exc:
                raise UsageError(str(exc)) from None
            return autoscale.run_async(
                Aws(args.region), autoscale.AsyncAutoscaleRequest(endpoint, backlog, args.variant)
            )
        scaling = Scaling(
            args.min_capacity,
            args.max_capacity,
            args.target_invocations,
            args.scale_in_cooldown,
            args.scale_out_cooldown,
        ).validate()
        return autoscale.run(Aws(args.region), autoscale.AutoscaleRequest(endpoint, scaling, args.variant))

    parser.set_defaults(run=_guarded("autoscale", run))


# --- transform ----------------------------------------------------------------------------------


def _transform(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "transform",
        "a batch transform job on SageMaker, waited for",
        "Create a batch transform job (CreateTransformJob) on an existing model (--model), or on a model "
        "made for it from --image, --model-data and --role; wait for it with progress and print the output "
        "location, or SageMaker's FailureReason. The data flags are `byoc local transform`'s: try a job "
        "there first. Ctrl-C while waiting stops the job.",
        usage="byoc transform JOB (--model NAME | --image URI --model-data S3_URI --role ARN)\n"
        "       --input S3_URI --output S3_URI --content-type TYPE [data options] [options]",
    )
    parser.add_argument("job", metavar="JOB", help="the transform job's name (unique in the region)")
    model = parser.add_argument_group("the model (--model, or the three others)")
    model.add_argument("--model", metavar="NAME", help="an existing SageMaker model")
    model.add_argument("--image", metavar="URI", help="the image URI, for a model made for the job")
    model.add_argument(
        "--model-data", metavar="S3_URI", help="model.tar.gz in S3, for a model made for the job"
    )
    model.add_argument("--role", metavar="ARN", help="the execution role, for a model made for the job")
    required = parser.add_argument_group("required")
    required.add_argument("--input", required=True, metavar="S3_URI", help="every object under this prefix")
    required.add_argument("--output", required=True, metavar="S3_URI", help="where OBJECT.out go")
    add_data_arguments(parser)
    parser.add_argument(
        "--instance-type", metavar="TYPE", default=DEFAULT_INSTANCE_TYPE, help="(default: %(default)s)"
    )
    parser.add_argument("--instance-count", metavar="N", type=int, default=1, help="(default: %(default)s)")
    parser.add_argument(
        "--invocation-timeout",
        metavar="SECONDS",
        type=int,
        help="InvocationsTimeoutInSeconds, 1-3600 (AWS: 600)",
    )
    parser.add_argument("--max-retries", metavar="N", type=int, help="InvocationsMaxRetries, 0-3 (AWS: 3)")
    parser.add_argument(
        "--manifest",
        action="store_true",
        help="--input is a manifest file listing the objects (ManifestFile)",
    )
    parser.add_argument("--gzip", action="store_true", help="the input objects are gzip-compressed (Gzip)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable of the job's containers (repeatable; at most 16)",
    )
    parser.add_argument(
        "--skip-image-check", action="store_true", help="do not ask ECR whether the image exists"
    )
    _wait_options(parser)
    _region(parser)
    parser.set_defaults(run=_guarded("transform", _run_transform))


def _run_transform(args: argparse.Namespace) -> int:
    job = validate_name(args.job, "transform job")
    made = any(value is not None for value in (args.image, args.model_data, args.role))
    if (args.model is None) == (not made) or (made and None in (args.image, args.model_data, args.role)):
        raise UsageError("name a model: --model NAME, or --image, --model-data and --role to make one")
    source = (
        ModelSource(
            model_data=args.model_data,
            image=args.image,
            role=validate_role(args.role),
            check_image=not args.skip_image_check,
        )
        if made
        else None
    )
    spec = JobSpec(
        name=job,
        model_name=args.model or f"{job}-model",
        input_uri=args.input,
        output_uri=args.output,
        instance_type=args.instance_type,
        settings=settings_from(args, args.instance_count),
        instance_count=args.instance_count,
        environment=parse_env(args.env),  # the job's Environment, on top of the model's
        invocation_timeout=args.invocation_timeout,
        max_retries=args.max_retries,
        manifest=args.manifest,
        gzip=args.gzip,
    )
    return transform.run(Aws(args.region), transform.TransformRequest(spec, source, _waiting(args)))


# --- delete, metrics and status ----------------------------------------------------------------


def _delete(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "delete",
        "delete an endpoint, its configs, models and auto scaling",
        "Delete an endpoint with its auto scaling, the endpoint configs and models byoc made for it "
        "(found by their tag), after asking for the endpoint's name on a terminal.",
    )
    _endpoint(parser)
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--keep-models", action="store_true", help="delete the endpoint and configs, keep the models"
    )
    _region(parser)

    def run(args: argparse.Namespace) -> int:
        request = delete.DeleteRequest(
            validate_name(args.endpoint), confirmed=args.yes, keep_models=args.keep_models
        )
        return delete.run(Aws(args.region), request)

    parser.set_defaults(run=_guarded("delete", run))


def _metrics(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "metrics",
        "invocations, latencies and errors from CloudWatch",
        "An endpoint's invocations, model and overhead latencies and 4xx/5xx errors over a window, "
        "from CloudWatch; with --local, a local endpoint's since it started.",
    )
    _endpoint(parser)
    parser.add_argument(
        "--since", metavar="DURATION", default="1h", help="the window: 30m, 3h, 2d, ... (default: 1h)"
    )
    parser.add_argument("--variant", metavar="NAME", help="the variant (default: the endpoint's only one)")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="also draw the series into this PNG")
    parser.add_argument("--local", action="store_true", help="ENDPOINT is a local endpoint (byoc local up)")
    _region(parser)

    def run(args: argparse.Namespace) -> int:
        if args.local:
            return metrics.run_local(args.endpoint)
        request = metrics.MetricsRequest(
            endpoint=validate_name(args.endpoint),
            window=parse_since(args.since),
            variant=args.variant,
            plot=args.plot,
        )
        return metrics.run(Aws(args.region), request)

    parser.set_defaults(run=_guarded("metrics", run))


def _status(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "status",
        "an endpoint's state, variants, config and scaling",
        "An endpoint's state (and SageMaker's reason when it failed), its config, and per variant the "
        "model, instance type, instance counts, weight and auto scaling.",
    )
    _endpoint(parser)
    _region(parser)

    def run(args: argparse.Namespace) -> int:
        return status.run(Aws(args.region), validate_name(args.endpoint))

    parser.set_defaults(run=_guarded("status", run))


# --- shared -----------------------------------------------------------------------------------


def _command(
    commands: argparse._SubParsersAction, name: str, summary: str, description: str, **kwargs
) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary, description=description, **kwargs)


def _endpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint's name")


def _region(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", help="the AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, then the AWS CLI config)"
    )


def _guarded(name: str, command: Command) -> Command:
    """`command` with its failures as messages and exit statuses, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ValueError as exc:  # UsageError, a bad name, --env or URI: the arguments
            complain(name, str(exc))
            return 2
        except (AwsError, WaitTimeout, BotoCoreError) as exc:  # BotoCoreError: no credentials, ...
            complain(name, str(exc))
            return 1
        except ClientError as exc:
            complain(name, error_message(exc))
            return 1
        except KeyboardInterrupt:
            print(file=sys.stderr)  # off a progress line
            complain(name, "interrupted; whatever AWS was doing carries on (`byoc status` shows where it is)")
            return 130

    return run
