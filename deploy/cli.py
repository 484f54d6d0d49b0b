"""`byoc` commands of the deploy package, added to the command line by byoc.py.

Each group registers its own subcommands: deploy.aws.commands (push, upload, deploy, update, invoke,
autoscale, delete, metrics, status) and deploy.local.commands (local up/update/down/ls/status/
metrics/logs); a later group (train, transform) is one more name here. A group whose
module is not there, or whose third-party dependencies (boto3) are not installed, registers
nothing: the image carries the runtime without them.
"""

from __future__ import annotations

import argparse
import importlib

GROUPS = ("deploy.aws.commands", "deploy.local.commands")


def register(commands: argparse._SubParsersAction) -> None:
    for name in GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("deploy.") and exc.name != name:
                raise  # a module of ours is missing: a bug, not an optional part
            continue
        module.register(commands)
