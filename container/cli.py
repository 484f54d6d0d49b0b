"""`byoc`: the toolkit's command line.

    byoc serve [--model-dir DIR] [--port N] [--workers N] [--handler NAME] [--program FILE]
    byoc extract ARCHIVE DEST        extract model.tar.gz safely, as the toolkit does everywhere

Options are shortcuts for the environment variables the image reads (SAGEMAKER_BIND_TO_PORT, ...),
so a model served natively behaves as it will in the container.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from container import archive, server
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

    extract = commands.add_parser(
        "extract",
        help="extract a model.tar.gz safely into an empty directory",
        description="Extract a model archive, refusing path escapes, links out, devices and bombs.",
    )
    extract.add_argument("archive", type=Path)
    extract.add_argument("destination", type=Path)
    _add_limit_options(extract)
    extract.set_defaults(run=run_extract)
    return parser


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-bytes", type=int, help=f"size cap when unpacked ({archive.MAX_BYTES_ENV})")
    parser.add_argument("--max-members", type=int, help=f"member count cap ({archive.MAX_MEMBERS_ENV})")


def _limits(args: argparse.Namespace) -> archive.Limits:
    limits = archive.Limits.from_env()
    return archive.Limits(
        max_bytes=args.max_bytes or limits.max_bytes,
        max_members=args.max_members or limits.max_members,
    )


def run_extract(args: argparse.Namespace) -> int:
    try:
        entries = archive.safe_extract(args.archive, args.destination, _limits(args))
    except (archive.UnsafeArchive, archive.ArchiveError) as exc:
        print(f"byoc extract: {exc}", file=sys.stderr)
        return 1
    files = sum(1 for e in entries if e.kind == "file")
    size = sum(e.size for e in entries)
    print(f"extracted {files} files ({size} bytes) into {args.destination}")
    return 0


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
