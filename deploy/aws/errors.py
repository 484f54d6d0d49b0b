"""The two kinds of failure the AWS commands report (pure).

A command exits 2 for arguments that cannot work (UsageError, and any other ValueError such as a
bad name or --env), before AWS is asked anything where that is possible; it exits 1 when AWS or
the endpoint said no (AwsError, or a wait that timed out).
"""

from __future__ import annotations


class UsageError(ValueError):
    """Arguments that cannot work; the message says which and what to do instead."""


class AwsError(RuntimeError):
    """An AWS call that failed in a way the user must see; the message is the cause."""
