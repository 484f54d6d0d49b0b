"""`byoc local transform`: its flags, and the command (deploy.transform.local does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

from deploy.container_env import InvalidEnv, parse_env
from deploy.local.docker import DockerError
from deploy.local.interrupts import sigterm_as_interrupt
from deploy.transform import local
from deploy.transform.arguments import add_data_arguments, settings_from
from deploy.transform.engine import DEFAULT_INVOCATION_TIMEOUT, DEFAULT_MAX_RETRIES
from deploy.transform.layout import FAILURES_FILE, LayoutError
from deploy.transform.settings import SettingsError

DESCRIPTION = f"""\
Run a batch transform job (SageMaker's CreateTransformJob) on this machine: the image's containers
are started as SageMaker starts them (docker run --network host IMAGE serve), every file under
--input is split into records, packed into requests and sent to them, and each file's answers are
written, in input order, to --output/FILE.out.

A record that fails fails its file: no .out is written for it, the other files are still processed,
and the command exits 1 with a message naming the file, the line (or record) and the container's
error. As AWS advises for bad records, --keep-going instead writes --error-placeholder (default
ERROR) on the failed record's line, lists every failure in --output/{FAILURES_FILE}, and
exits 3 if any record was marked.

Without --strategy, --max-payload and --max-concurrent, the container's /execution-parameters
decides (both MULTI_RECORD and MultiRecord spellings), then SageMaker's defaults (MultiRecord, 6 MB,
1). --max-payload 0 sends each file as one streamed (chunked) request.
"""


def register_local(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "transform",
        help="a batch transform job on this machine (CreateTransformJob's semantics)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    required = parser.add_argument_group("required")
    required.add_argument(
        "--image", required=True, help="the serving image (started as `docker run IMAGE serve`)"
    )
    required.add_argument(
        "--model-data", required=True, type=Path, metavar="PATH", help="model.tar.gz, or a model directory"
    )
    required.add_argument(
        "--input",
        required=True,
        type=Path,
        metavar="PATH",
        help="a file, or a directory (every file, recursively)",
    )
    required.add_argument(
        "--output",
        required=True,
        type=Path,
        metavar="DIR",
        help="the directory for FILE.out (made if missing)",
    )
    parser.add_argument(
        "--instances", type=int, default=1, metavar="N", help="containers sharing the requests (default: 1)"
    )
    add_data_arguments(parser)
    run = parser.add_argument_group("running")
    run.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable of the containers (repeatable)",
    )
    run.add_argument(
        "--keep-going",
        action="store_true",
        help="mark failed records with the placeholder and go on (exit 3)",
    )
    run.add_argument(
        "--error-placeholder", default="ERROR", metavar="TEXT", help="the line written for a failed record"
    )
    run.add_argument(
        "--invocation-timeout",
        type=float,
        default=DEFAULT_INVOCATION_TIMEOUT,
        metavar="SECONDS",
        help="seconds a request may take (InvocationsTimeoutInSeconds; default: 600)",
    )
    run.add_argument(
        "--max-retries",
        type=int,
        default=DEFAULT_MAX_RETRIES,
        metavar="N",
        help="retries of a request that got no answer or a 5xx (InvocationsMaxRetries, 0-3; default: 3)",
    )
    run.add_argument(
        "--startup-timeout",
        type=float,
        default=300,
        metavar="SECONDS",
        help="seconds each container may take to answer /ping (default: 300)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress line")
    parser.set_defaults(run=run_local)
    return parser


def run_local(args: argparse.Namespace) -> int:
    say = local.stderr_say
    sigterm_as_interrupt()
    if not 0 <= args.max_retries <= 3:
        return _fail(f"--max-retries {args.max_retries}: 0 to 3", 2)
    if args.instances < 1:
        return _fail(f"--instances {args.instances}: at least 1", 2)
    try:
        job = local.Job(
            image=args.image,
            model_data=args.model_data,
            source=args.input,
            output=args.output,
            settings=settings_from(args, args.instances),
            instances=args.instances,
            env=parse_env(args.env),
            startup_timeout=args.startup_timeout,
            invocation_timeout=args.invocation_timeout,
            max_retries=args.max_retries,
            keep_going=args.keep_going,
            placeholder=args.error_placeholder,
        )
        summary = local.run(job, say, progress_enabled=not args.no_progress)
    except KeyboardInterrupt:
        return _fail("interrupted; the containers have been removed", 130)
    except SettingsError as exc:
        return _fail("the settings would be refused: " + "; ".join(exc.problems), 2)
    except (InvalidEnv, LayoutError) as exc:
        return _fail(str(exc), 2)
    except (local.LocalTransformError, DockerError) as exc:
        return _fail(str(exc))
    return local.report(summary, args.instances, say)


def _fail(message: str, status: int = 1) -> int:
    local.stderr_say(f"error: {message}")
    return status
