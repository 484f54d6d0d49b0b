"""`byoc local train`: a training job in script mode on this machine, with the image's `train`.

    byoc local train --image IMAGE --entry-point train.py --source-dir DIR --channel train=DIR_OR_FILE
                     [--channel NAME=...]... [--hyperparameter K=V]... --output-dir OUT
                     [--instance-count N] [--job-name NAME]

It sends the hyperparameters the SageMaker Python SDK would send for Estimator(image_uri=IMAGE,
entry_point=..., source_dir=..., hyperparameters=...) in local mode (the code at /opt/ml/code), so a
job behaves as it will on SageMaker. Exit status: 0 the job completed (OUT/model.tar.gz and
OUT/output.tar.gz written), 1 it failed (its failure file printed), 2 arguments that cannot make a
job, 130 interrupted (the job stopped as StopTrainingJob stops it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from deploy.local import training
from deploy.training_inputs import (
    InputError,
    parse_channels,
    parse_hyperparameters,
    script_mode_hyperparameters,
)

CODE_DIR = "/opt/ml/code"  # where the code goes in the container, as SDK local mode mounts it
JOB_NAME = "local-%Y%m%d-%H%M%S"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="run a training job with an image on this machine; writes model.tar.gz",
        description="Run IMAGE's `train` as a SageMaker training job does, /opt/ml laid out as SageMaker "
        "lays it out (one container per host, host networking), stream its log, and write "
        "OUT/model.tar.gz and OUT/output.tar.gz; a failed job prints its failure file.",
    )
    required = parser.add_argument_group("required")
    required.add_argument(
        "--image", required=True, help="the training image (run as `docker run IMAGE train`)"
    )
    required.add_argument(
        "--entry-point", required=True, metavar="FILE", help="the script to run, in --source-dir"
    )
    required.add_argument(
        "--source-dir", required=True, type=Path, metavar="DIR", help="the code's directory"
    )
    required.add_argument(
        "--output-dir",
        required=True,
        type=Path,
        metavar="OUT",
        help="where model.tar.gz and output.tar.gz go",
    )
    parser.add_argument(
        "--channel", action="append", default=[], metavar="NAME=PATH",
        help="an input channel from a local directory or file (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
        help="passed to the script as --NAME VALUE (repeatable); VALUE is read as JSON where it is JSON",
    )  # fmt: skip
    parser.add_argument("--instance-count", metavar="N", type=int, default=1, help="hosts (default: 1)")
    parser.add_argument("--job-name", metavar="NAME", help="default: local-<date>-<time>")
    parser.set_defaults(run=run)


def say(message: str) -> None:
    print(f"byoc local: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from deploy.aws.plan.training import validate_job_name  # a job name is a job name, here or on AWS

    try:
        if not (args.source_dir / args.entry_point).is_file():
            raise InputError(f"--entry-point {args.entry_point} is not in {args.source_dir}")
        name = validate_job_name(args.job_name or time.strftime(JOB_NAME))
        if args.instance_count < 1:
            raise InputError("--instance-count must be at least 1")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        hyperparameters = script_mode_hyperparameters(
            parse_hyperparameters(args.hyperparameter),
            program=args.entry_point, submit_directory=CODE_DIR, job_name=name, region=region,
        )  # fmt: skip
        job = training.LocalJob(
            name=name, image=args.image, source_dir=args.source_dir, hyperparameters=hyperparameters,
            channels=parse_channels(args.channel), output_dir=args.output_dir,
            instance_count=args.instance_count, environment={"AWS_REGION": region},
        )  # fmt: skip
        result = training.run(job, say)
    except InputError as exc:
        print(f"byoc local train: {exc}", file=sys.stderr)
        return 2
    except training.LocalJobError as exc:
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
                f"byoc local train: the job failed (exit {result.exit_codes}) with no failure file",
                file=sys.stderr,
            )
        return 1
    say(f"job {name} completed: {result.model_files} file(s) in the model")
    print(f"model:  {result.model}")
    print(f"output: {result.output}")
    return 0
