"""`byoc` commands for SageMaker: push, upload, deploy, invoke, autoscale, update, delete, metrics, status.

Each prints what it does, shows progress while it waits, and exits 0 on success, 1 when AWS (or
the endpoint) says no, 2 for arguments that cannot work. The requests are built by deploy.plan,
the state is read by deploy.waiters; this module only sequences them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from deploy import names, plan, report, waiters
from deploy.sagemaker_ops import Aws, AwsError, error_code, error_message

ROOT = Path(__file__).resolve().parents[1]
POLL_ENV = "BYOC_POLL_SECONDS"


class UsageError(ValueError):
    pass


def say(message: str) -> None:
    print(message, flush=True)


def register(commands: argparse._SubParsersAction) -> None:
    push = commands.add_parser("push", help="build the image and push it to ECR (build_and_push.sh)")
    push.add_argument("image_name", help="the ECR repository name")
    push.add_argument("tag", nargs="?", help="default: the git commit (and latest)")
    push.add_argument("--region")
    push.add_argument("--registry", help="push here instead of ECR's registry host (BYOC_REGISTRY)")
    push.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    push.add_argument("--platform", help="default: linux/amd64 on hosts that are not amd64")
    push.add_argument("--network", help="docker build --network (e.g. host)")
    push.add_argument("-f", "--file", help="the Dockerfile")
    push.add_argument("--context", help="the build context")
    push.add_argument("--no-latest", action="store_true")
    push.set_defaults(run=_guarded(run_push))

    upload = commands.add_parser("upload", help="upload model.tar.gz to S3")
    upload.add_argument("archive", type=Path)
    upload.add_argument("destination", help="s3://bucket/key (or s3://bucket/prefix/)")
    _common(upload)
    upload.set_defaults(run=_guarded(run_upload))

    deploy = commands.add_parser("deploy", help="create a SageMaker endpoint and wait until it is InService")
    deploy.add_argument("endpoint")
    deploy.add_argument(
        "--image", required=True, help="image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG)"
    )
    deploy.add_argument("--model-data", required=True, help="s3:// URI, or a local model.tar.gz to upload")
    deploy.add_argument("--role", required=True, help="the SageMaker execution role ARN")
    deploy.add_argument("--instance-type", default=None, help=f"default {plan.DEFAULT_INSTANCE_TYPE}")
    deploy.add_argument("--instance-count", type=int, default=1)
    deploy.add_argument("--serverless-memory", type=int, metavar="MB")
    deploy.add_argument("--serverless-concurrency", type=int, metavar="N")
    deploy.add_argument("--variant", default=names.DEFAULT_VARIANT)
    deploy.add_argument("--data-capture", metavar="S3_URI", help="capture requests and responses here")
    deploy.add_argument("--data-capture-percent", type=int, default=100)
    deploy.add_argument("--update", action="store_true", help="update the endpoint if it exists")
    deploy.add_argument(
        "--skip-image-check", action="store_true", help="do not ask ECR whether the image exists"
    )
    _model_options(deploy)
    _wait_options(deploy)
    _common(deploy)
    deploy.set_defaults(run=_guarded(run_deploy))

    invoke = commands.add_parser("invoke", help="send one request to an endpoint")
    invoke.add_argument("endpoint")
    invoke.add_argument("--content-type", required=True)
    body = invoke.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="the request body as text")
    body.add_argument("--file", type=Path, help="a file holding the request body")
    invoke.add_argument("--accept")
    invoke.add_argument("--custom-attributes")
    invoke.add_argument("--inference-id")
    invoke.add_argument("--target-variant")
    _common(invoke)
    invoke.set_defaults(run=_guarded(run_invoke))

    autoscale = commands.add_parser(
        "autoscale", help="target-tracking auto scaling on invocations per instance"
    )
    autoscale.add_argument("endpoint")
    autoscale.add_argument("--min", type=int, dest="min_capacity")
    autoscale.add_argument("--max", type=int, dest="max_capacity")
    autoscale.add_argument("--target-invocations", type=float, help="per instance per minute")
    autoscale.add_argument("--scale-in-cooldown", type=int, default=300)
    autoscale.add_argument("--scale-out-cooldown", type=int, default=60)
    autoscale.add_argument("--variant")
    autoscale.add_argument("--remove", action="store_true", help="remove the policy and the scalable target")
    _common(autoscale)
    autoscale.set_defaults(run=_guarded(run_autoscale))

    update = commands.add_parser("update", help="replace the model without downtime (blue/green)")
    update.add_argument("endpoint")
    update.add_argument("--model-data", required=True, help="s3:// URI, or a local model.tar.gz to upload")
    update.add_argument("--image", help="default: the image the endpoint runs now")
    update.add_argument("--role", help="default: the current model's role")
    update.add_argument("--instance-type", help="default: the current one")
    update.add_argument("--instance-count", type=int, help="default: the current count")
    update.add_argument("--traffic", choices=("all-at-once", "canary", "linear"), default="all-at-once")
    update.add_argument("--traffic-percent", type=int, default=10, help="canary size or linear step (%%)")
    update.add_argument("--traffic-wait", type=int, default=300, help="seconds between traffic shifts")
    update.add_argument("--rollback-alarm", action="append", default=[], help="CloudWatch alarm name")
    update.add_argument("--keep-old", action="store_true", help="keep the old model and endpoint config")
    update.add_argument(
        "--skip-image-check", action="store_true", help="do not ask ECR whether the image exists"
    )
    _model_options(update)
    _wait_options(update)
    _common(update)
    update.set_defaults(run=_guarded(run_update))

    delete = commands.add_parser("delete", help="delete an endpoint, its configs, models and scaling")
    delete.add_argument("endpoint")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.add_argument("--keep-models", action="store_true")
    _common(delete)
    delete.set_defaults(run=_guarded(run_delete))

    metrics = commands.add_parser("metrics", help="invocations, latencies and errors from CloudWatch")
    metrics.add_argument("endpoint")
    metrics.add_argument("--since", default="1h", help="30m, 3h, 2d, ... (default 1h)")
    metrics.add_argument("--variant")
    metrics.add_argument("--plot", type=Path, metavar="PNG", help="also draw the series into this PNG")
    metrics.add_argument("--local", action="store_true", help="ENDPOINT is a local endpoint (byoc local up)")
    _common(metrics)
    metrics.set_defaults(run=_guarded(run_metrics))

    status = commands.add_parser("status", help="an endpoint's state, variants, config and scaling")
    status.add_argument("endpoint")
    _common(status)
    status.set_defaults(run=_guarded(run_status))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="default: AWS_REGION, AWS_DEFAULT_REGION, then the AWS CLI config")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="container environment")
    parser.add_argument("--bucket", help="for a local archive: default sagemaker-REGION-ACCOUNT")


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="return once AWS accepted the request")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")


def _guarded(command):
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (UsageError, names.InvalidName, plan.PlanError, ValueError) as exc:
            print(f"byoc {args.command}: {exc}", file=sys.stderr)
            return 2
        except (AwsError, waiters.WaitTimeout) as exc:
            print(f"byoc {args.command}: {exc}", file=sys.stderr)
            return 1
        except ClientError as exc:
            print(f"byoc {args.command}: {error_message(exc)}", file=sys.stderr)
            return 1
        except BotoCoreError as exc:  # no credentials, endpoint unreachable, ...
            print(f"byoc {args.command}: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(
                f"\nbyoc {args.command}: interrupted; whatever AWS was doing carries on "
                "(`byoc status` shows where it is)",
                file=sys.stderr,
            )
            return 130

    return run


def _interval() -> float:
    return float(os.environ.get(POLL_ENV, "15"))


def _wait(aws: Aws, label: str, interpret, timeout: float, endpoint: str) -> waiters.Outcome:
    progress = waiters.Progress(label, sys.stderr)
    return waiters.wait(
        lambda: aws.describe_endpoint(endpoint), interpret, progress, timeout=timeout, interval=_interval()
    )


# --- push and upload -----------------------------------------------------------------------------


def run_push(args: argparse.Namespace) -> int:
    script = ROOT / "build_and_push.sh"
    if not script.is_file():
        raise UsageError(f"{script} is not there: byoc push runs from a checkout of the project")
    options: list[str] = []
    for flag, value in (
        ("--region", args.region),
        ("--registry", args.registry),
        ("--platform", args.platform),
        ("--network", args.network),
        ("--file", args.file),
        ("--context", args.context),
    ):
        if value:
            options += [flag, value]
    for build_arg in args.build_arg:
        options += ["--build-arg", build_arg]
    if args.no_latest:
        options.append("--no-latest")
    command = ["bash", str(script), *options, "--", args.image_name, *([args.tag] if args.tag else [])]
    say(f"running {' '.join(command)}")
    return subprocess.run(command, check=False).returncode


def run_upload(args: argparse.Namespace) -> int:
    aws = Aws(args.region)
    uri = _upload(aws, args.archive, args.destination)
    say(uri)
    return 0


def _upload(aws: Aws, archive: Path, destination: str) -> str:
    if not archive.is_file():
        raise UsageError(f"{archive}: no such file")
    if not archive.name.endswith((".tar.gz", ".tgz")):
        raise UsageError(
            f"{archive}: SageMaker expects a gzipped tar (model.tar.gz); `byoc package` makes one"
        )
    names.parse_s3_uri(destination if destination.count("/") > 2 else destination + "/")
    say(f"uploading {archive} ({archive.stat().st_size:,} bytes) to {destination}")
    uri = aws.upload(archive, destination)
    say(f"uploaded {uri}")
    return uri


def _model_data(aws: Aws, value: str, endpoint: str, model_name: str, bucket: str | None) -> str:
    if value.startswith("s3://"):
        names.parse_s3_uri(value)
        if not aws.s3_object_exists(value):
            raise UsageError(f"--model-data {value}: no such S3 object (SageMaker would fail minutes later)")
        return value
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"--model-data {value}: neither an s3:// URI nor a local file")
    bucket = bucket or aws.default_bucket()
    return _upload(aws, path, f"s3://{bucket}/byoc/{endpoint}/{model_name}/model.tar.gz")


# --- deploy ----------------------------------------------------------------------------------------


def run_deploy(args: argparse.Namespace) -> int:
    endpoint = names.validate_name(args.endpoint)
    names.validate_name(args.variant, "variant")
    env = plan.parse_env(args.env)
    serverless = args.serverless_memory is not None or args.serverless_concurrency is not None
    if serverless and args.instance_type:
        raise UsageError("--instance-type and --serverless-* exclude each other")
    capacity = plan.Capacity(
        instance_type=None if serverless else (args.instance_type or plan.DEFAULT_INSTANCE_TYPE),
        instance_count=args.instance_count,
        serverless_memory_mb=args.serverless_memory,
        serverless_concurrency=args.serverless_concurrency,
    ).validate()
    aws = Aws(args.region)
    existing = aws.describe_endpoint(endpoint)
    if existing is not None:
        if not args.update:
            raise UsageError(
                f"endpoint {endpoint} already exists ({existing['EndpointStatus']}); "
                "`byoc update` replaces its model, `byoc deploy --update` does the same"
            )
        return run_update(_as_update(args))

    _check_image(aws, args.image, args.skip_image_check)
    model_name = names.generate_name(endpoint, "m")
    config_name = names.generate_name(endpoint, "c")
    model_data = _model_data(aws, args.model_data, endpoint, model_name, args.bucket)
    model = plan.model_request(
        model_name, endpoint=endpoint, image=args.image, model_data=model_data, role=args.role, env=env
    )
    config = plan.endpoint_config_request(
        config_name,
        endpoint=endpoint,
        model_name=model_name,
        capacity=capacity,
        variant=args.variant,
        data_capture_s3=args.data_capture,
        data_capture_percent=args.data_capture_percent,
    )
    say(f"creating model {model_name} (image {args.image}, model data {model_data})")
    aws.call("create_model", **model)
    say(f"creating endpoint config {config_name} ({_describe_capacity(capacity)}, variant {args.variant})")
    aws.call("create_endpoint_config", **config)
    say(f"creating endpoint {endpoint}")
    aws.call(
        "create_endpoint", EndpointName=endpoint, EndpointConfigName=config_name, Tags=plan.tags(endpoint)
    )
    if args.no_wait:
        say(f"not waiting: `byoc status {endpoint}` shows when it is InService")
        return 0
    outcome = _wait(aws, f"endpoint {endpoint}", waiters.interpret_create, args.timeout, endpoint)
    if not outcome.ok:
        print(f"byoc deploy: {outcome.message}", file=sys.stderr)
        print(
            f"(the model and config are left for inspection; `byoc delete {endpoint}` removes all)",
            file=sys.stderr,
        )
        return 1
    say(f"endpoint {endpoint} is InService on {config_name}")
    return 0


def _check_image(aws: Aws, uri: str, skip: bool) -> None:
    """Refuse, before anything is created, an image SageMaker could not pull: it would fail the
    endpoint only after many minutes. Images outside ECR get a note (SageMaker pulls from ECR, or
    from a private registry reached through a VPC)."""
    if skip:
        return
    image = names.parse_ecr_image(uri)
    if image is None:
        say(f"note: {uri} is not an ECR image; SageMaker pulls from ECR (or a private registry in your VPC)")
        return
    if image["region"] != aws.region:
        raise UsageError(
            f"--image {uri} is in ECR of {image['region']}, the endpoint in {aws.region}: SageMaker pulls "
            "from ECR of its own region (push there with build_and_push.sh --region)"
        )
    problem = aws.image_problem(image)
    if problem:
        raise UsageError(f"--image {uri}: ECR has no such image ({problem}); --skip-image-check to go on")


def _as_update(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        command="update",
        endpoint=args.endpoint,
        model_data=args.model_data,
        image=args.image,
        role=args.role,
        instance_type=args.instance_type,
        instance_count=None,
        traffic="all-at-once",
        traffic_percent=10,
        traffic_wait=300,
        rollback_alarm=[],
        keep_old=False,
        skip_image_check=args.skip_image_check,
        env=args.env,
        bucket=args.bucket,
        no_wait=args.no_wait,
        timeout=args.timeout,
        region=args.region,
    )


def _describe_capacity(capacity: plan.Capacity) -> str:
    if capacity.serverless:
        return (
            f"serverless, {capacity.serverless_memory_mb} MB, at most "
            f"{capacity.serverless_concurrency} concurrent invocations"
        )
    return f"{capacity.instance_count} x {capacity.instance_type}"


# --- update ----------------------------------------------------------------------------------------


def run_update(args: argparse.Namespace) -> int:
    endpoint = names.validate_name(args.endpoint)
    env = plan.parse_env(args.env)
    deployment = plan.deployment_config(
        args.traffic, percent=args.traffic_percent, wait_seconds=args.traffic_wait, alarms=args.rollback_alarm
    )
    aws = Aws(args.region)
    current = aws.describe_endpoint(endpoint)
    if current is None:
        raise UsageError(f"endpoint {endpoint} does not exist; `byoc deploy` creates it")
    if current["EndpointStatus"] == "Failed":
        raise UsageError(
            f"endpoint {endpoint} is Failed ({current.get('FailureReason') or 'no reason given'}); SageMaker "
            f"cannot update a Failed endpoint: `byoc delete {endpoint}`, then `byoc deploy` again"
        )
    if current["EndpointStatus"] != "InService":
        raise UsageError(f"endpoint {endpoint} is {current['EndpointStatus']}; an update needs it InService")
    old_config_name = current["EndpointConfigName"]
    old_config = aws.describe_endpoint_config(old_config_name)
    if old_config is None:
        raise AwsError(f"the endpoint's config {old_config_name} is gone; `byoc delete` and deploy again")
    variants = old_config["ProductionVariants"]
    if len(variants) != 1:
        raise UsageError(
            f"endpoint {endpoint} has {len(variants)} variants; byoc updates one-variant endpoints"
        )
    old_variant = variants[0]
    variant = old_variant["VariantName"]
    old_model_name = old_variant["ModelName"]
    old_model = aws.describe_model(old_model_name) or {}
    old_container = old_model.get("PrimaryContainer", {})
    running = {v["VariantName"]: v for v in current.get("ProductionVariants", [])}.get(variant, {})

    capacity = plan.capacity_from_variant(
        old_variant, instance_count=args.instance_count or running.get("CurrentInstanceCount")
    )
    if args.instance_type:
        if capacity.serverless:
            raise UsageError("--instance-type on a serverless endpoint: deploy a new endpoint instead")
        capacity = plan.Capacity(instance_type=args.instance_type, instance_count=capacity.instance_count)
    capacity.validate()
    image = args.image or old_container.get("Image")
    role = args.role or old_model.get("ExecutionRoleArn")
    if not image or not role:
        raise UsageError(f"the current model {old_model_name} is gone: pass --image and --role")
    merged_env = {**old_container.get("Environment", {}), **env}
    if args.image:
        _check_image(aws, image, args.skip_image_check)

    model_name = names.generate_name(endpoint, "m")
    config_name = names.generate_name(endpoint, "c")
    model_data = _model_data(aws, args.model_data, endpoint, model_name, args.bucket)
    model = plan.model_request(
        model_name, endpoint=endpoint, image=image, model_data=model_data, role=role, env=merged_env
    )
    config = plan.endpoint_config_request(
        config_name, endpoint=endpoint, model_name=model_name, capacity=capacity, variant=variant
    )
    if old_config.get("DataCaptureConfig"):
        config["DataCaptureConfig"] = old_config["DataCaptureConfig"]
    say(f"creating model {model_name} (image {image}, model data {model_data})")
    aws.call("create_model", **model)
    say(f"creating endpoint config {config_name} ({_describe_capacity(capacity)}, variant {variant})")
    aws.call("create_endpoint_config", **config)

    # UpdateEndpoint refuses to change the instance type of a variant under auto scaling.
    saved_scaling = None
    if plan.instance_type_changes(old_variant, capacity):
        registered = aws.scaling_target(endpoint, variant)
        if registered is not None:
            saved_scaling = plan.scaling_from_aws(*registered)
            say(f"deregistering auto scaling of {variant} around the instance type change")
            aws.deregister_scaling(endpoint, variant)

    request: dict = {"EndpointName": endpoint, "EndpointConfigName": config_name}
    if deployment:
        request["DeploymentConfig"] = deployment
    how = args.traffic + (f" {args.traffic_percent}%" if args.traffic != "all-at-once" else "")
    say(f"updating endpoint {endpoint}: {old_config_name} -> {config_name} (blue/green, {how})")
    try:
        aws.call("update_endpoint", **request)
    except AwsError:
        _restore_scaling(aws, endpoint, variant, saved_scaling)
        _remove(aws, [config_name], [model_name])
        raise
    if args.no_wait:
        if saved_scaling:
            say("note: auto scaling was deregistered; run `byoc autoscale` again once the update is done")
        say(f"not waiting: `byoc status {endpoint}` shows when it is InService on {config_name}")
        return 0
    try:
        outcome = _wait(
            aws,
            f"endpoint {endpoint}",
            lambda d: waiters.interpret_update(d, config_name, old_config_name),
            args.timeout,
            endpoint,
        )
    finally:
        _restore_scaling(aws, endpoint, variant, saved_scaling)
    if not outcome.ok:
        print(f"byoc update: {outcome.message}", file=sys.stderr)
        if outcome.status == "RolledBack" and not args.keep_old:
            _remove(aws, [config_name], [model_name])
        return 1
    say(f"endpoint {endpoint} is InService on {config_name}")
    if not args.keep_old:
        _remove(aws, [old_config_name], [old_model_name])
    return 0


def _restore_scaling(aws: Aws, endpoint: str, variant: str, scaling: plan.Scaling | None) -> None:
    if scaling is None:
        return
    say(
        f"registering auto scaling of {variant} again "
        f"({scaling.min_capacity}-{scaling.max_capacity} instances)"
    )
    aws.register_scaling(
        plan.scalable_target_request(endpoint, variant, scaling),
        plan.scaling_policy_request(endpoint, variant, scaling),
    )


def _remove(aws: Aws, configs: list[str], models: list[str]) -> None:
    for name in configs:
        if aws.delete("endpoint_config", name):
            say(f"deleted endpoint config {name}")
    for name in models:
        if aws.delete("model", name):
            say(f"deleted model {name}")


# --- invoke ----------------------------------------------------------------------------------------


def run_invoke(args: argparse.Namespace) -> int:
    endpoint = names.validate_name(args.endpoint)
    if args.file is not None:
        if not args.file.is_file():
            raise UsageError(f"--file {args.file}: no such file")
        body = args.file.read_bytes()
    else:
        body = args.body.encode()
    extra = {}
    for option, key in (
        ("accept", "Accept"),
        ("custom_attributes", "CustomAttributes"),
        ("inference_id", "InferenceId"),
        ("target_variant", "TargetVariant"),
    ):
        if getattr(args, option):
            extra[key] = getattr(args, option)
    aws = Aws(args.region)
    say(f"invoking {endpoint} with {len(body):,} bytes of {args.content_type}")
    try:
        answer = aws.invoke(endpoint, body, args.content_type, **extra)
    except ClientError as exc:
        response = exc.response
        if error_code(exc) == "ModelError":
            original = response.get("OriginalStatusCode", "?")
            print(f"status: ModelError: the container answered {original}", file=sys.stderr)
            print(
                f"message: {response.get('OriginalMessage') or response['Error'].get('Message', '')}",
                file=sys.stderr,
            )
            if response.get("LogStreamArn"):
                print(f"log stream: {response['LogStreamArn']}", file=sys.stderr)
            return 1
        print(f"status: {error_message(exc)}", file=sys.stderr)
        return 1
    metadata = answer.get("ResponseMetadata", {})
    payload = answer["Body"].read()
    say(f"status: {metadata.get('HTTPStatusCode', 200)}")
    say(f"content-type: {answer.get('ContentType', '')}")
    if answer.get("CustomAttributes"):
        say(f"custom-attributes: {answer['CustomAttributes']}")
    if answer.get("InvokedProductionVariant"):
        say(f"variant: {answer['InvokedProductionVariant']}")
    say("")
    sys.stdout.write(payload.decode("utf-8", errors="replace"))
    if payload and not payload.endswith(b"\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


# --- autoscale -------------------------------------------------------------------------------------


def _single_variant(aws: Aws, endpoint: str, chosen: str | None) -> str:
    described = aws.describe_endpoint(endpoint)
    if described is None:
        raise UsageError(f"endpoint {endpoint} does not exist")
    variants = [v["VariantName"] for v in described.get("ProductionVariants", [])]
    if chosen:
        if chosen not in variants:
            raise UsageError(f"--variant {chosen}: the endpoint has {', '.join(variants)}")
        return chosen
    if len(variants) != 1:
        raise UsageError(f"endpoint {endpoint} has variants {', '.join(variants)}: pass --variant")
    return variants[0]


def run_autoscale(args: argparse.Namespace) -> int:
    endpoint = names.validate_name(args.endpoint)
    aws = Aws(args.region)
    if args.remove:
        described = aws.describe_endpoint(endpoint)
        variants = (
            [args.variant]
            if args.variant
            else [v["VariantName"] for v in (described or {}).get("ProductionVariants", [])]
        )
        for variant in variants:
            if aws.deregister_scaling(endpoint, variant):
                say(f"removed auto scaling of {endpoint}/{variant}")
            else:
                say(f"{endpoint}/{variant} had no auto scaling")
        return 0
    missing = [
        flag
        for flag, value in (
            ("--min", args.min_capacity),
            ("--max", args.max_capacity),
            ("--target-invocations", args.target_invocations),
        )
        if value is None
    ]
    if missing:
        raise UsageError(f"{', '.join(missing)} needed (or --remove)")
    scaling = plan.Scaling(
        args.min_capacity,
        args.max_capacity,
        args.target_invocations,
        args.scale_in_cooldown,
        args.scale_out_cooldown,
    ).validate()
    variant = _single_variant(aws, endpoint, args.variant)
    config = aws.describe_endpoint_config(aws.describe_endpoint(endpoint)["EndpointConfigName"]) or {}
    if any(v.get("ServerlessConfig") for v in config.get("ProductionVariants", [])):
        raise UsageError(
            "serverless endpoints scale by themselves (MaxConcurrency); no instance auto scaling"
        )
    say(
        f"auto scaling {endpoint}/{variant}: {scaling.min_capacity}-{scaling.max_capacity} instances, "
        f"target {scaling.target_invocations:g} invocations per instance per minute, cooldowns in "
        f"{scaling.scale_in_cooldown} s / out {scaling.scale_out_cooldown} s"
    )
    arn = aws.register_scaling(
        plan.scalable_target_request(endpoint, variant, scaling),
        plan.scaling_policy_request(endpoint, variant, scaling),
    )
    say(f"policy {plan.policy_name(endpoint, variant)} {arn}".rstrip())
    return 0


# --- delete ----------------------------------------------------------------------------------------


def run_delete(args: argparse.Namespace) -> int:
    endpoint = names.validate_name(args.endpoint)
    aws = Aws(args.region)
    described = aws.describe_endpoint(endpoint)
    configs = aws.owned_configs(endpoint)
    if described and described.get("EndpointConfigName") and described["EndpointConfigName"] not in configs:
        configs.insert(0, described["EndpointConfigName"])
    models: list[str] = []
    for config_name in configs:
        config = aws.describe_endpoint_config(config_name) or {}
        models += [
            v["ModelName"] for v in config.get("ProductionVariants", []) if v["ModelName"] not in models
        ]
    if not args.keep_models:
        models += [m for m in aws.owned_models(endpoint) if m not in models]
    else:
        models = []
    variants = [v["VariantName"] for v in (described or {}).get("ProductionVariants", [])]
    if described is None and not configs and not models:
        say(f"nothing to delete: no endpoint {endpoint}, and no configs or models of it")
        return 0
    say(f"endpoint: {endpoint if described else '(gone)'}")
    say(f"endpoint configs: {', '.join(configs) or '-'}")
    say(f"models: {', '.join(models) or '-'}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("not a terminal to confirm on: pass --yes")
        if input(f"delete these? type the endpoint name ({endpoint}) to confirm: ").strip() != endpoint:
            say("not deleted")
            return 1
    for variant in variants:
        if aws.deregister_scaling(endpoint, variant):
            say(f"deregistered auto scaling of {variant}")
    if described is not None and aws.delete("endpoint", endpoint):
        say(f"deleted endpoint {endpoint}")
    _remove(aws, configs, models)
    return 0


# --- metrics and status ------------------------------------------------------------------------------


def run_metrics(args: argparse.Namespace) -> int:
    if args.local:
        return _local_metrics(args.endpoint)
    endpoint = names.validate_name(args.endpoint)
    window = report.parse_since(args.since)
    aws = Aws(args.region)
    variant = args.variant or _single_variant(aws, endpoint, None)
    end = datetime.now(UTC)
    start = end - window
    period = report.period_for(window)
    say(f"{endpoint}/{variant}, {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC, {period} s periods")
    summaries, series = [], {}
    for metric, statistic, _unit in report.METRICS:
        points = aws.metric_datapoints(endpoint, variant, metric, statistic, start, end, period)
        summaries.append(report.summarize(metric, statistic, points))
        series[metric] = [(p["Timestamp"], p[statistic]) for p in points if statistic in p]
    say(report.metrics_table(summaries))
    if args.plot:
        _plot(series, args.plot, f"{endpoint}/{variant}")
        say(f"chart: {args.plot}")
    return 0


def _local_metrics(name: str) -> int:
    try:
        from deploy.local.metrics import local_metrics
    except ImportError:
        raise UsageError("local endpoints are not available in this installation (deploy.local)") from None
    try:
        values = local_metrics(name)
    except RuntimeError as exc:  # LocalEndpointError: no such endpoint, or its front does not answer
        raise AwsError(f"local endpoint {name}: {exc}") from exc
    say(f"local endpoint {name} (since it started)")
    rows = [[metric, values.get(metric)] for metric, _s, _u in report.METRICS]
    say(report.table(["metric", "value"], rows))
    return 0


def _plot(series: dict, path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib (pip install matplotlib)") from None
    figure, axes = plt.subplots(len(series), 1, figsize=(9, 2.2 * len(series)), sharex=True)
    for axis, (metric, points) in zip(axes, series.items(), strict=True):
        if points:
            axis.plot([t for t, _ in points], [v for _, v in points], marker=".")
        axis.set_ylabel(metric, fontsize=8)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def run_status(args: argparse.Namespace) -> int:
    endpoint = names.validate_name(args.endpoint)
    aws = Aws(args.region)
    described = aws.describe_endpoint(endpoint)
    if described is None:
        print(f"byoc status: endpoint {endpoint} does not exist", file=sys.stderr)
        return 1
    say(f"endpoint {endpoint}: {described['EndpointStatus']}")
    if described.get("FailureReason"):
        say(f"failure reason: {described['FailureReason']}")
    say(f"config: {described['EndpointConfigName']}")
    config = aws.describe_endpoint_config(described["EndpointConfigName"]) or {}
    configured = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
    rows = []
    for variant in described.get("ProductionVariants", []):
        name = variant["VariantName"]
        wanted = configured.get(name, {})
        serverless = wanted.get("ServerlessConfig")
        kind = (
            f"serverless {serverless['MemorySizeInMB']} MB x{serverless['MaxConcurrency']}"
            if serverless
            else wanted.get("InstanceType", "?")
        )
        registered = aws.scaling_target(endpoint, name)
        scaling = plan.scaling_from_aws(*registered) if registered else None
        scaling_text = (
            f"{scaling.min_capacity}-{scaling.max_capacity}, target {scaling.target_invocations:g}/min"
            if scaling
            else ("registered, no invocations policy" if registered else "-")
        )
        rows.append(
            [
                name,
                wanted.get("ModelName", "?"),
                kind,
                variant.get("CurrentInstanceCount"),
                variant.get("DesiredInstanceCount"),
                variant.get("CurrentWeight"),
                scaling_text,
            ]
        )
    say(report.table(["variant", "model", "type", "instances", "desired", "weight", "auto scaling"], rows))
    return 0
