"""`byoc local ...`: a SageMaker endpoint on this machine (deploy.local).

byoc local up NAME --image IMAGE --model-data model.tar.gz [--instances N] [--port P] [--env K=V ...]
byoc local update NAME [--model-data new.tar.gz] [--image IMAGE] [--instances N] [--env K=V ...]
byoc local down NAME [NAME ...] | --all
byoc local ls [--json]
byoc local status NAME
byoc local metrics NAME [--json]
byoc local logs NAME [--tail N]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from deploy.local import docker
from deploy.local.manager import LocalEndpointError, Manager
from deploy.local.state import StateError


def register(commands: argparse._SubParsersAction) -> None:
    local = commands.add_parser(
        "local",
        help="a SageMaker endpoint on this machine: code written for SageMaker runs unchanged against it",
        description="Run an image as a local SageMaker endpoint: N containers behind a front that speaks "
        "the SageMaker Runtime API (point AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME at it). State: "
        "$BYOC_LOCAL_HOME (default ~/.byoc/local).",
    )
    sub = local.add_subparsers(dest="local_command", metavar="COMMAND")
    local.set_defaults(run=lambda args: (local.print_help(), 2)[1])

    up = sub.add_parser("up", help="start a local endpoint; returns once it is InService")
    up.add_argument("name", help="the endpoint name (as EndpointName in invoke_endpoint)")
    up.add_argument("--image", required=True, help="the serving image (started as `docker run IMAGE serve`)")
    up.add_argument("--model-data", required=True, type=Path, help="model.tar.gz (or a model directory)")
    up.add_argument("--instances", type=int, default=1, help="containers behind the endpoint (default 1)")
    up.add_argument("--port", type=int, help="the front's loopback port (default: a free one)")
    _common(up)
    up.set_defaults(run=run_up)

    update = sub.add_parser(
        "update", help="blue/green update: new instances, then traffic, then old ones stop"
    )
    update.add_argument("name")
    update.add_argument("--model-data", type=Path, help="the new model.tar.gz (default: the current model)")
    update.add_argument("--image", help="a new image (default: the current one)")
    update.add_argument("--instances", type=int, help="instance count after the update (default: unchanged)")
    update.add_argument(
        "--drain-timeout", type=float, default=60, help="seconds old instances may take to finish requests"
    )
    _common(update)
    update.set_defaults(run=run_update)

    down = sub.add_parser("down", help="stop a local endpoint: containers removed, files deleted")
    down.add_argument("names", nargs="*", metavar="NAME")
    down.add_argument("--all", action="store_true", help="every local endpoint")
    down.set_defaults(run=run_down)

    ls = sub.add_parser("ls", help="list local endpoints")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_ls)

    status = sub.add_parser("status", help="a local endpoint's instances and their health (JSON)")
    status.add_argument("name")
    status.set_defaults(run=run_status)

    metrics = sub.add_parser("metrics", help="Invocations, ModelLatency, OverheadLatency, 4xx and 5xx errors")
    metrics.add_argument("name")
    metrics.add_argument("--json", action="store_true")
    metrics.set_defaults(run=run_metrics)

    logs = sub.add_parser("logs", help="the last lines of each instance's container log")
    logs.add_argument("name")
    logs.add_argument("--tail", type=int, default=50)
    logs.set_defaults(run=run_logs)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="environment of the containers (repeatable)"
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=300, help="seconds each instance may take to answer /ping"
    )


def _say(message: str) -> None:
    print(f"byoc local: {message}", file=sys.stderr, flush=True)


def _fail(message: str, status: int = 1) -> int:
    print(f"byoc local: error: {message}", file=sys.stderr)
    return status


def _env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise LocalEndpointError(f"--env {pair!r} is not K=V")
        env[key] = value
    return env


def _sigterm_as_interrupt() -> None:
    # `kill` of a running up/update cleans up exactly as Ctrl-C does.
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    # Ctrl-C cleans up even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _guard(run):
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except KeyboardInterrupt:
            return _fail("interrupted; what was started has been removed", 130)
        except (LocalEndpointError, StateError, docker.DockerError) as exc:
            return _fail(str(exc))

    return wrapped


@_guard
def run_up(args: argparse.Namespace) -> int:
    _sigterm_as_interrupt()
    state = Manager(say=_say).up(
        args.name,
        image=args.image,
        model_data=args.model_data,
        instances=args.instances,
        port=args.port,
        env=_env(args.env),
        startup_timeout=args.startup_timeout,
    )
    _say(f"endpoint {state.name} is InService with {state.instance_count} instance(s)")
    _say(f"export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={state.url}")
    print(state.url, flush=True)
    return 0


@_guard
def run_update(args: argparse.Namespace) -> int:
    _sigterm_as_interrupt()
    state = Manager(say=_say).update(
        args.name,
        model_data=args.model_data,
        image=args.image,
        instances=args.instances,
        env=_env(args.env),
        startup_timeout=args.startup_timeout,
        drain_timeout=args.drain_timeout,
    )
    _say(f"endpoint {state.name} is InService on generation {state.generation}")
    print(state.url, flush=True)
    return 0


@_guard
def run_down(args: argparse.Namespace) -> int:
    manager = Manager(say=_say)
    names = manager.store.names() if args.all else args.names
    if not names and not args.all:
        return _fail("name an endpoint (or --all)", 2)
    status = 0
    for name in names:
        try:
            manager.down(name)
            _say(f"endpoint {name} removed")
        except (LocalEndpointError, StateError) as exc:
            status = _fail(str(exc))
    return status


@_guard
def run_ls(args: argparse.Namespace) -> int:
    rows = Manager().list()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no local endpoints")
        return 0
    table = [("NAME", "STATUS", "INSTANCES", "URL", "IMAGE", "MODEL")]
    for row in rows:
        table.append(
            (
                row["name"],
                row["status"],
                str(row.get("instances", "")),
                row.get("url", ""),
                row.get("image", ""),
                row.get("model_data", ""),
            )
        )
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]) - 1)]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[-1]
        )
    return 0


@_guard
def run_status(args: argparse.Namespace) -> int:
    print(json.dumps(Manager().status(args.name), indent=2))
    return 0


@_guard
def run_metrics(args: argparse.Namespace) -> int:
    metrics = Manager().metrics(args.name)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    units = {"ModelLatency": "us (average)", "OverheadLatency": "us (average)"}
    for key, value in metrics.items():
        unit = units.get(key, "us" if "Latency" in key else "")
        print(f"{key:<24} {value:>14.1f} {unit}".rstrip())
    return 0


@_guard
def run_logs(args: argparse.Namespace) -> int:
    manager = Manager()
    state = manager._load(args.name)
    for record in state.instances:
        print(f"==> instance {record.container[:12]} (port {record.port}) <==")
        print(docker.log_tail(record.container, args.tail))
    return 0
