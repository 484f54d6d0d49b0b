"""`byoc deploy ENDPOINT --from-training-job JOB`: the deploy command, with the model of a finished job.

A bridge onto the `deploy` command as it stands (deploy.aws_cli) while the deploy package is being
restructured on another branch: it adds the option to that command's parser and, when it is given,
fills --image, --model-data and --env from DescribeTrainingJob (deploy.training.trained_model)
before the usual deploy runs. Given explicitly, --image and --env still win.
"""

from __future__ import annotations

import argparse
import sys

from deploy.training import trained_model


def extend(commands: argparse._SubParsersAction) -> None:
    parser = commands.choices.get("deploy")
    if parser is None:
        return
    parser.add_argument(
        "--from-training-job",
        metavar="JOB",
        help="deploy the model of this finished training job: its image, model.tar.gz and code settings "
        "(SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY); --image and --env override",
    )
    parser.add_argument(
        "--entry-point",
        help="with --from-training-job: serve with this script of the job's code (SAGEMAKER_PROGRAM)",
    )
    relaxed = []
    for action in parser._actions:
        if action.dest in ("image", "model_data") and action.required:
            action.required = False  # the job can supply them; checked below
            relaxed.append(action)
    deploy = parser.get_default("run")

    def run(args: argparse.Namespace) -> int:
        if args.from_training_job is None:
            missing = [f"--{a.dest.replace('_', '-')}" for a in relaxed if getattr(args, a.dest) is None]
            if missing:
                parser.error(f"the following arguments are required: {', '.join(missing)}")
            if args.entry_point:
                parser.error("--entry-point goes with --from-training-job")
            return deploy(args)
        if args.model_data is not None:
            parser.error("--model-data and --from-training-job exclude each other")
        try:
            model = trained_model.from_description(_describe(args), program=args.entry_point)
        except trained_model.NotDeployable as exc:
            print(f"byoc deploy: {exc}", file=sys.stderr)
            return 1
        print(f"[byoc] the model of training job {model.job}: {model.model_data}", file=sys.stderr)
        args.image = args.image or model.image
        args.model_data = model.model_data
        args.env = [f"{key}={value}" for key, value in model.environment.items()] + list(args.env)
        return deploy(args)

    parser.set_defaults(run=run)


def _describe(args: argparse.Namespace) -> dict:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.session.Session(region_name=getattr(args, "region", None)).client("sagemaker")
        return client.describe_training_job(TrainingJobName=args.from_training_job)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise trained_model.NotDeployable(f"{error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise trained_model.NotDeployable(str(exc)) from None
