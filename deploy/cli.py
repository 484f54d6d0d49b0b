"""`byoc` commands of the deploy package, added to the command line by byoc.py.

Each group registers its own subcommands: deploy.aws_cli (push, upload, deploy, invoke, autoscale,
update, delete, metrics, status) and deploy.local_cli (local up/update/down/ls). A group whose
module is not there, or whose third-party dependencies (boto3) are not installed, registers
nothing: the image carries the runtime without them.
"""

from __future__ import annotations

import argparse
import importlib

GROUPS = ("deploy.aws_cli", "deploy.local_cli")


def register(commands: argparse._SubParsersAction) -> None:
    for name in GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("deploy.") and exc.name != name:
                raise  # a module of ours is missing: a bug, not an optional part
            continue
        module.register(commands)
