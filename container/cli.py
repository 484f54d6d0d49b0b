"""`byoc`: the toolkit's command line.

    byoc serve [--model-dir DIR] [--port N] [--workers N] [--handler NAME] [--program FILE]

Options are shortcuts for the environment variables the image reads (SAGEMAKER_BIND_TO_PORT, ...),
so a model served natively behaves as it will in the container.
"""

from __future__ import annotations

import argparse
import os
import sys

from container import server
from container.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="byoc", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve a model natively, exactly as the image would",
        description="Serve a model natively with the same runtime and settings as the image.",
    )
    serve.add_argument("--model-dir", help="the model directory (default /opt/ml/model)")
    serve.add_argument("--port", type=int, help="port to listen on (SAGEMAKER_BIND_TO_PORT)")
    serve.add_argument("--host", help="address to bind (default 0.0.0.0)")
    serve.add_argument("--workers", type=int, help="worker processes (SAGEMAKER_MODEL_SERVER_WORKERS)")
    serve.add_argument("--handler", help="handler module from handlers/ (BYOC_HANDLER)")
    serve.add_argument("--program", help="user module in code/ (SAGEMAKER_PROGRAM)")
    serve.set_defaults(run=run_serve)
    return parser


SERVE_OPTIONS = {
    "model_dir": "BYOC_MODEL_DIR",
    "port": "SAGEMAKER_BIND_TO_PORT",
    "host": "BYOC_BIND_HOST",
    "workers": "SAGEMAKER_MODEL_SERVER_WORKERS",
    "handler": "BYOC_HANDLER",
    "program": "SAGEMAKER_PROGRAM",
}


def run_serve(args: argparse.Namespace) -> int:
    for option, variable in SERVE_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            os.environ[variable] = str(value)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"byoc serve: {exc}", file=sys.stderr)
        return 2
    return server.run(config)


if __name__ == "__main__":
    sys.exit(main())
