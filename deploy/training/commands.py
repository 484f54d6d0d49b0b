"""`byoc local train` and `byoc train`: a training job in script mode on this machine or on SageMaker.

    byoc local train --image IMAGE --entry-point train.py --source-dir DIR --channel train=DIR_OR_FILE
                     [--channel NAME=...]... [--hyperparameter K=V]... --output-dir OUT
                     [--instance-count N] [--job-name NAME]
    byoc train JOB --image URI --role ARN --entry-point train.py --source-dir DIR
               --channel NAME=s3://...  [--hyperparameter K=V]... --instance-type T [--instance-count N]
               --output s3://... [--spot [--max-wait S]] [--max-run S] [--region R]

Both send the hyperparameters the SageMaker Python SDK would send for
Estimator(image_uri=IMAGE, entry_point=..., source_dir=..., hyperparameters=...), so a job behaves
the same whichever started it. Exit status: 0 the job completed, 1 it failed or was stopped,
2 arguments that cannot make a job, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from deploy.training import deploy_from_job, job_request, local_job
from deploy.training.job_inputs import (
    InputError,
    parse_channels,
    parse_hyperparameters,
    script_mode_hyperparameters,
)

POLL_ENV = "BYOC_POLL_SECONDS"
CODE_DIR = "/opt/ml/code"  # where the code goes in the container, as SDK local mode mounts it


def register(commands: argparse._SubParsersAction) -> None:
    """Add `train`, `train` under `local`, and --from-training-job to `deploy`, where those are there."""
    _train(commands)
    local = _subcommands(commands.choices.get("local"))
    if local is not None:
        _local_train(local)
    deploy_from_job.extend(commands)


def _subcommands(parser: argparse.ArgumentParser | None) -> argparse._SubParsersAction | None:
    if parser is None:
        return None
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _job_options(parser: argparse.ArgumentParser, channel_help: str) -> None:
    parser.add_argument("--image", required=True, help="the training image (run as `docker run IMAGE train`)")
    parser.add_argument(
        "--entry-point", required=True, help="the script in --source-dir to run, e.g. train.py"
    )
    parser.add_argument("--source-dir", required=True, type=Path, help="the directory of the code")
    parser.add_argument("--channel", action="append", default=[], metavar="NAME=WHERE", help=channel_help)
    parser.add_argument(
        "--hyperparameter", action="append", default=[], metavar="K=V",
        help="passed to the script as --K V (repeatable); V is read as JSON where it is JSON",
    )  # fmt: skip
    parser.add_argument("--instance-count", type=int, default=1, help="hosts (default 1)")


def _local_train(local: argparse._SubParsersAction) -> None:
    parser = local.add_parser(
        "train",
        help="run a training job with an image on this machine; writes model.tar.gz",
        description="Run IMAGE's `train` as a SageMaker training job does, with /opt/ml laid out as "
        "SageMaker lays it out, and write OUT/model.tar.gz and OUT/output.tar.gz.",
    )
    _job_options(parser, "a channel from a local directory or file (repeatable)")
    parser.add_argument("--output-dir", required=True, type=Path, help="where model.tar.gz is written")
    parser.add_argument("--job-name", help="default: local-<timestamp>")
    parser.set_defaults(run=run_local_train)


def _train(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="run a SageMaker training job and follow it to its end",
        description="Upload the code as sourcedir.tar.gz, create a SageMaker training job, follow its "
        "status and log, and print its model artifact (or its FailureReason).",
    )
    parser.add_argument("job", help="the training job name")
    _job_options(parser, "a channel from an S3 prefix (repeatable)")
    parser.add_argument("--role", required=True, help="the SageMaker execution role ARN")
    parser.add_argument("--instance-type", required=True, help="e.g. ml.m5.large")
    parser.add_argument("--output", required=True, help="s3:// where the job writes its artifacts")
    parser.add_argument(
        "--max-run", type=int, default=job_request.DEFAULT_MAX_RUN, help="seconds (default 1 day)"
    )
    parser.add_argument("--spot", action="store_true", help="managed spot training")
    parser.add_argument("--max-wait", type=int, help="with --spot: seconds to wait for capacity and run")
    parser.add_argument("--region", help="default: AWS_REGION, AWS_DEFAULT_REGION, then the AWS config")
    parser.add_argument("--no-wait", action="store_true", help="return once SageMaker accepted the job")
    parser.set_defaults(run=run_train)


def say(message: str) -> None:
    print(f"[byoc] {message}", file=sys.stderr, flush=True)


def _entry_point(source_dir: Path, entry_point: str) -> str:
    if not source_dir.is_dir():
        raise InputError(f"--source-dir {source_dir}: not a directory")
    if not (source_dir / entry_point).is_file():
        raise InputError(f"--entry-point {entry_point} is not in {source_dir}")
    return entry_point


# --- byoc local train -------------------------------------------------------------------------------


def run_local_train(args: argparse.Namespace) -> int:
    try:
        entry = _entry_point(args.source_dir, args.entry_point)
        name = job_request.validate_job_name(args.job_name or time.strftime("local-%Y%m%d-%H%M%S"))
        if args.instance_count < 1:
            raise InputError("--instance-count must be at least 1")
        channels = parse_channels(args.channel)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        hyperparameters = script_mode_hyperparameters(
            parse_hyperparameters(args.hyperparameter),
            program=entry, submit_directory=CODE_DIR, job_name=name, region=region,
        )  # fmt: skip
        job = local_job.LocalJob(
            name=name, image=args.image, source_dir=args.source_dir, hyperparameters=hyperparameters,
            channels=channels, output_dir=args.output_dir, instance_count=args.instance_count,
            environment={"AWS_REGION": region},
        )  # fmt: skip
        result = local_job.run(job, say)
    except InputError as exc:
        print(f"byoc local train: {exc}", file=sys.stderr)
        return 2
    except local_job.LocalJobError as exc:
        print(f"byoc local train: {exc}", file=sys.stderr)
        return 1
    if result.interrupted:
        say(f"job {name} was stopped")
        return 130
    if not result.ok:
        for host, reason in sorted(result.failures.items()):
            print(f"byoc local train: {host} failed: {reason}", file=sys.stderr)
        if not result.failures:
            print(
                f"byoc local train: the job failed (exit {result.exit_codes}) and left no failure file",
                file=sys.stderr,
            )
        return 1
    say(f"job {name} completed: {result.model_files} file(s) in the model")
    print(f"model:  {result.model}")
    print(f"output: {result.output}")
    return 0


# --- byoc train ---------------------------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from deploy.training import sagemaker_job

    try:
        entry = _entry_point(args.source_dir, args.entry_point)
        name = job_request.validate_job_name(args.job)
        channels = parse_channels(args.channel)
        session = boto3.session.Session(region_name=args.region)
        if not session.region_name:
            raise InputError("no AWS region: pass --region or set AWS_REGION")
        bucket, key = job_request.source_key(args.output, name)
        hyperparameters = script_mode_hyperparameters(
            parse_hyperparameters(args.hyperparameter),
            program=entry, submit_directory=f"s3://{bucket}/{key}", job_name=name, region=session.region_name,
        )  # fmt: skip
        request = job_request.build(
            job_request.JobSpec(
                name=name, image=args.image, role=args.role, hyperparameters=hyperparameters,
                channels=channels, instance_type=args.instance_type, instance_count=args.instance_count,
                output_path=args.output, max_run=args.max_run, spot=args.spot, max_wait=args.max_wait,
            )
        )  # fmt: skip
    except InputError as exc:
        print(f"byoc train: {exc}", file=sys.stderr)
        return 2
    clients = sagemaker_job.Clients(
        sagemaker=session.client("sagemaker"), s3=session.client("s3"), logs=session.client("logs")
    )
    try:
        uri = sagemaker_job.upload_source(clients, args.source_dir, bucket, key)
        say(f"uploaded {args.source_dir} as {uri}")
        clients.sagemaker.create_training_job(**request)
        say(f"created training job {name} ({args.instance_count} x {args.instance_type}, image {args.image})")
        if args.no_wait:
            say(f"not waiting: `aws sagemaker describe-training-job --training-job-name {name}` follows it")
            return 0
        poll = float(os.environ.get(POLL_ENV) or 10)
        description = sagemaker_job.Follower(clients, name, say, print).follow(poll)
    except KeyboardInterrupt:
        say(f"interrupted: job {name} goes on in SageMaker; `aws sagemaker stop-training-job "
            f"--training-job-name {name}` stops it")  # fmt: skip
        return 130
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"byoc train: AWS said {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"byoc train: {exc}", file=sys.stderr)
        return 1
    status = description["TrainingJobStatus"]
    if status != "Completed":
        reason = description.get("FailureReason") or "(no FailureReason)"
        print(f"byoc train: training job {name} {status}: {reason}", file=sys.stderr)
        return 1
    artifact = description["ModelArtifacts"]["S3ModelArtifacts"]
    say(f"job {name} completed; deploy it with `byoc deploy ENDPOINT --from-training-job {name} --role ...`")
    print(artifact)
    return 0
