"""`byoc local ...`: a SageMaker endpoint on this machine, its command line.

    byoc local up NAME --image IMAGE --model-data model.tar.gz [--instances N] [--port P] [--env K=V ...]
        [--async-output s3://BUCKET/PREFIX/ [--async-failure s3://...] [--async-max-concurrent N]]
    byoc local up NAME --image IMAGE --multi-model --model-data-prefix DIR_OR_S3_PREFIX [--model-cache C]
    byoc local update NAME [--model-data new.tar.gz] [--image IMAGE] [--instances N] [--env K=V ...]
    byoc local down NAME [NAME ...] | --all
    byoc local ls [--json]
    byoc local status NAME
    byoc local metrics NAME [--json]
    byoc local logs NAME [--tail N]
    byoc local transform --image IMAGE --model-data ARCHIVE --input PATH --output DIR --content-type T ...
    byoc local train --image IMAGE --entry-point FILE --source-dir DIR --channel NAME=PATH --output-dir OUT

Exit status: 0 done, 1 it could not be done (the message says why), 2 usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from deploy.async_inference.config import AsyncConfigError, AsyncSettings
from deploy.async_inference.service import DEFAULT_MAX_CONCURRENT_PER_INSTANCE as DEFAULT_ASYNC_CONCURRENCY
from deploy.async_inference.service import AsyncEndpointConfig
from deploy.container_env import InvalidEnv, parse_env
from deploy.local import docker, train_command
from deploy.local.endpoints import LocalEndpoints
from deploy.local.errors import LocalEndpointError
from deploy.local.interrupts import sigterm_as_interrupt
from deploy.local.metrics import metrics_table
from deploy.local.state import StateError
from deploy.local.store import HOME_ENV
from deploy.tables import text_table
from deploy.transform import cli as transform_cli

Command = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction) -> None:
    local = commands.add_parser(
        "local",
        help="a SageMaker endpoint on this machine: code written for SageMaker runs unchanged against it",
        description="Run an image as a local SageMaker endpoint: N containers behind a front that speaks "
        "the SageMaker Runtime API (point AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME at it). State: "
        f"${HOME_ENV} (default ~/.byoc/local).",
    )
    sub = local.add_subparsers(dest="local_command", metavar="COMMAND")
    local.set_defaults(run=lambda args: (local.print_help(), 2)[1])

    up = _command(
        sub,
        "up",
        "start a local endpoint; returns once it is InService",
        "Extract the model, start the containers (`docker run IMAGE serve`, host networking, one "
        "loopback port each), wait until each answers /ping, then start the front. Prints the URL "
        "to point AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME at.",
    )
    _name(up)
    required = up.add_argument_group("required")
    required.add_argument(
        "--image", required=True, help="the serving image (started as `docker run IMAGE serve`)"
    )
    model = up.add_argument_group("the model (one of)")
    model.add_argument("--model-data", type=Path, metavar="PATH", help="model.tar.gz, or a model directory")
    model.add_argument(
        "--multi-model",
        action="store_true",
        help="a multi-model endpoint: each invocation's TargetModel names an archive below "
        "--model-data-prefix, loaded on first use (the image must support SAGEMAKER_MULTI_MODEL)",
    )
    model.add_argument(
        "--model-data-prefix",
        metavar="DIR_OR_S3_PREFIX",
        help="with --multi-model: the directory or s3:// prefix the TargetModel paths are below",
    )
    model.add_argument(
        "--model-cache",
        choices=["Enabled", "Disabled"],
        default="Enabled",
        help="with --multi-model, ModelCacheSetting: Enabled keeps models loaded until memory is short; "
        "Disabled unloads each after its invocation (default: %(default)s)",
    )
    up.add_argument(
        "--instances",
        metavar="N",
        type=int,
        default=1,
        help="containers behind the endpoint (default: %(default)s)",
    )
    up.add_argument("--port", type=int, help="the front's loopback port (default: a free one)")
    _container_options(up)
    asynchronous = up.add_argument_group(
        "asynchronous inference (the endpoint then takes InvokeEndpointAsync only)"
    )
    asynchronous.add_argument(
        "--async-output", metavar="S3_URI", help="where results go: S3_URI/<InferenceId>.out (S3OutputPath)"
    )
    asynchronous.add_argument(
        "--async-failure",
        metavar="S3_URI",
        help="where errors go: S3_URI/<InferenceId>-error.out (S3FailurePath; default: --async-output)",
    )
    asynchronous.add_argument(
        "--async-max-concurrent",
        metavar="N",
        type=int,
        help=f"requests in flight per instance, the rest queued (default: {DEFAULT_ASYNC_CONCURRENCY})",
    )
    up.set_defaults(run=_guarded(_up))

    update = _command(
        sub,
        "update",
        "blue/green update: new instances, then traffic, then old ones stop",
        "Start new containers with what you change, switch the traffic to them once they answer "
        "/ping, let the old ones finish their requests, then stop them. On failure or Ctrl-C the old "
        "ones keep serving.",
    )
    _name(update)
    update.add_argument(
        "--model-data", type=Path, metavar="PATH", help="the new model.tar.gz (default: the current model)"
    )
    update.add_argument("--image", help="a new image (default: the current one)")
    update.add_argument(
        "--instances", metavar="N", type=int, help="instance count after the update (default: unchanged)"
    )
    update.add_argument(
        "--drain-timeout",
        metavar="SECONDS",
        type=float,
        default=60,
        help="seconds old instances may take to finish their requests (default: %(default)s)",
    )
    _container_options(update)
    update.set_defaults(run=_guarded(_update))

    down = _command(
        sub,
        "down",
        "stop a local endpoint: containers removed, files deleted",
        "Stop the front, remove the containers and delete the endpoint's files.",
    )
    down.add_argument("names", nargs="*", metavar="NAME", help="the endpoints to stop")
    down.add_argument("--all", action="store_true", help="every local endpoint")
    down.set_defaults(run=_guarded(_down))

    ls = _command(
        sub,
        "ls",
        "list local endpoints",
        "Every local endpoint with its status, instances, URL, image and model.",
    )
    ls.add_argument("--json", action="store_true", help="print JSON (one object per endpoint)")
    ls.set_defaults(run=_guarded(_ls))

    status = _command(
        sub,
        "status",
        "a local endpoint's instances and their health, and its async queue (JSON)",
        "The front's view of an endpoint: its instances, their health, requests served and in flight; "
        "for an asynchronous endpoint, its queue (ApproximateBacklogSize, ApproximateAgeOfOldestRequest, "
        "requests waiting, in flight, processed, failed and expired) and the latest results.",
    )
    _name(status)
    status.set_defaults(run=_guarded(_status))

    metrics = _command(
        sub,
        "metrics",
        "Invocations, ModelLatency, OverheadLatency, 4xx and 5xx errors",
        "A local endpoint's metrics since its front started, named as CloudWatch names SageMaker's "
        "(latencies: averages and maxima, in microseconds).",
    )
    _name(metrics)
    metrics.add_argument("--json", action="store_true", help="print JSON")
    metrics.set_defaults(run=_guarded(_metrics))

    logs = _command(
        sub, "logs", "the last lines of each instance's container log", "The tail of each container's log."
    )
    _name(logs)
    logs.add_argument(
        "--tail", metavar="N", type=int, default=50, help="lines per instance (default: %(default)s)"
    )
    logs.set_defaults(run=_guarded(_logs))

    transform_cli.register_local(sub)
    train_command.register(sub)  # a training job on this machine (deploy.local.training)


def _command(
    sub: argparse._SubParsersAction, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=description)


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the endpoint's name (EndpointName in invoke_endpoint)")


def _container_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable of the containers (repeatable)",
    )
    parser.add_argument(
        "--startup-timeout",
        metavar="SECONDS",
        type=float,
        default=300,
        help="seconds each instance may take to answer /ping (default: %(default)s)",
    )


def _say(message: str) -> None:
    print(f"byoc local: {message}", file=sys.stderr, flush=True)


def _fail(message: str, status: int = 1) -> int:
    print(f"byoc local: error: {message}", file=sys.stderr)
    return status


def _guarded(run: Command) -> Command:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except KeyboardInterrupt:
            return _fail("interrupted; what was started has been removed", 130)
        except (LocalEndpointError, StateError, InvalidEnv, docker.DockerError) as exc:
            return _fail(str(exc))

    return wrapped


def _async_config(args: argparse.Namespace) -> dict | None:
    """The async settings of `byoc local up`, checked as CreateEndpointConfig checks them; None without."""
    if args.async_output is None:
        if args.async_failure or args.async_max_concurrent is not None:
            raise LocalEndpointError("--async-failure and --async-max-concurrent need --async-output")
        return None
    settings = AsyncSettings(args.async_output, args.async_failure, args.async_max_concurrent)
    try:
        settings.check()
    except AsyncConfigError as exc:
        raise LocalEndpointError(str(exc)) from None
    return AsyncEndpointConfig(
        settings.output_path,
        settings.failure_path,
        settings.max_concurrent_per_instance or DEFAULT_ASYNC_CONCURRENCY,
    ).to_dict()


def _up(args: argparse.Namespace) -> int:
    env = parse_env(args.env)
    async_config = _async_config(args)
    if args.multi_model != (args.model_data_prefix is not None) or (args.multi_model and args.model_data):
        return _fail("--multi-model goes with --model-data-prefix (and without --model-data)", 2)
    if not args.multi_model and args.model_data is None:
        return _fail("--model-data is required (or --multi-model with --model-data-prefix)", 2)
    sigterm_as_interrupt()
    state = LocalEndpoints(say=_say).up(
        args.name,
        image=args.image,
        model_data=args.model_data,
        instances=args.instances,
        port=args.port,
        env=env,
        startup_timeout=args.startup_timeout,
        async_config=async_config,
        model_data_prefix=args.model_data_prefix,
        model_cache=args.model_cache,
    )
    _say(f"endpoint {state.name} is InService with {state.instance_count} instance(s)")
    if async_config is not None:
        _say(
            f"asynchronous: results to {async_config['output_path']}, errors to "
            f"{async_config['failure_path'] or async_config['output_path']}; `byoc local status "
            f"{state.name}` shows the queue"
        )
    _say(f"export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={state.url}")
    print(state.url, flush=True)
    return 0


def _update(args: argparse.Namespace) -> int:
    env = parse_env(args.env)
    sigterm_as_interrupt()
    state = LocalEndpoints(say=_say).update(
        args.name,
        model_data=args.model_data,
        image=args.image,
        instances=args.instances,
        env=env,
        startup_timeout=args.startup_timeout,
        drain_timeout=args.drain_timeout,
    )
    _say(f"endpoint {state.name} is InService on generation {state.generation}")
    print(state.url, flush=True)
    return 0


def _down(args: argparse.Namespace) -> int:
    endpoints = LocalEndpoints(say=_say)
    names = endpoints.store.names() if args.all else args.names
    if not names and not args.all:
        return _fail("name an endpoint (or --all)", 2)
    status = 0
    for name in names:
        try:
            endpoints.down(name)
            _say(f"endpoint {name} removed")
        except (LocalEndpointError, StateError) as exc:
            status = _fail(str(exc))
    return status


def _ls(args: argparse.Namespace) -> int:
    rows = LocalEndpoints().list()
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no local endpoints")
    else:
        headers = ["name", "status", "instances", "url", "image", "model"]
        keys = ["name", "status", "instances", "url", "image", "model_data"]
        print(text_table(headers, [[row.get(key, "") for key in keys] for row in rows]))
    return 0


def _status(args: argparse.Namespace) -> int:
    print(json.dumps(LocalEndpoints().status(args.name), indent=2))
    return 0


def _metrics(args: argparse.Namespace) -> int:
    values = LocalEndpoints().metrics(args.name)
    print(json.dumps(values, indent=2) if args.json else metrics_table(values))
    return 0


def _logs(args: argparse.Namespace) -> int:
    for record, text in LocalEndpoints().logs(args.name, args.tail):
        print(f"==> instance {record.container[:12]} (port {record.port}) <==")
        print(text)
    return 0
