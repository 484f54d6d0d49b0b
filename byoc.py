"""`byoc`: the toolkit's command line, assembled from the rooms that own the commands.

The runtime's commands (serve, package, inspect, extract) come from container.cli and are always
there: the image carries them. The AWS and local-endpoint commands come from deploy.cli, which the
image leaves out; where it (or boto3) is missing, `byoc` offers the runtime's commands alone. This
module sits above both so that the runtime never imports the deploy package.
"""

from __future__ import annotations

import argparse
import sys

from container import cli as runtime_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="byoc",
        description="Serve ML models in SageMaker-compatible containers, on this machine and on AWS.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    runtime_cli.register(commands)
    try:
        from deploy import cli as deploy_cli
    except ImportError:  # the image: the runtime without the deploy package
        return parser
    deploy_cli.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
