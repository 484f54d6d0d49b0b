"""Waiting for an endpoint: what its state means, and polling it until that is settled.

`interpret_create` and `interpret_update` turn one DescribeEndpoint answer into an Outcome (pure).
`wait` polls with a bound on time and reports each answer to a progress display;
`watch_endpoint` does so for an endpoint, with the progress on stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from deploy.aws.output import Progress, format_elapsed

if TYPE_CHECKING:
    from deploy.aws.clients.session import Aws

WAITING = ("Creating", "Updating", "SystemUpdating", "RollingBack")
POLL_SECONDS = 15.0


@dataclass(frozen=True)
class Waiting:
    """Whether a command waits for the endpoint to settle, for how long, and how often it asks."""

    enabled: bool = True
    timeout: float = 3600.0
    interval: float = POLL_SECONDS


@dataclass(frozen=True)
class Outcome:
    done: bool  # stop waiting
    ok: bool  # the change succeeded
    status: str  # EndpointStatus (or "Gone", "RolledBack")
    message: str = ""


class WaitTimeout(RuntimeError):
    pass


class Reporter(Protocol):
    def update(self, status: str, elapsed: float) -> None: ...
    def finish(self, status: str, elapsed: float) -> None: ...


def interpret_create(describe: dict | None) -> Outcome:
    """An endpoint being created: InService is success, Failed (with FailureReason) is failure."""
    if describe is None:
        return Outcome(True, False, "Gone", "the endpoint does not exist (deleted while being created?)")
    status = describe.get("EndpointStatus", "")
    if status == "InService":
        return Outcome(True, True, status)
    if status in WAITING:
        return Outcome(False, False, status)
    reason = describe.get("FailureReason") or "no FailureReason given"
    return Outcome(True, False, status, f"endpoint is {status}: {reason}")


def interpret_update(describe: dict | None, new_config: str, old_config: str) -> Outcome:
    """An endpoint being updated to `new_config`.

    Success is InService AND running the new config. A failed update that SageMaker rolled back
    also ends InService, on the old config: that is a failure, reported with its FailureReason.
    """
    if describe is None:
        return Outcome(True, False, "Gone", "the endpoint does not exist (deleted during the update?)")
    status = describe.get("EndpointStatus", "")
    current = describe.get("EndpointConfigName", "")
    reason = describe.get("FailureReason") or ""
    if status in WAITING:
        return Outcome(False, False, status)
    if status == "InService" and current == new_config:
        return Outcome(True, True, status)
    if status == "InService" and current == old_config:
        return Outcome(
            True,
            False,
            "RolledBack",
            f"the update was rolled back; the endpoint is InService on the old config {old_config}"
            + (f": {reason}" if reason else ""),
        )
    if status == "InService":
        return Outcome(True, False, status, f"the endpoint is InService on an unexpected config {current}")
    return Outcome(True, False, status, f"endpoint is {status}: {reason or 'no FailureReason given'}")


def wait(
    describe: Callable[[], dict | None],
    interpret: Callable[[dict | None], Outcome],
    progress: Reporter,
    *,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Poll `describe` until `interpret` says done; WaitTimeout after `timeout` seconds."""
    started = clock()
    while True:
        outcome = interpret(describe())
        elapsed = clock() - started
        if outcome.done:
            progress.finish(outcome.status, elapsed)
            return outcome
        progress.update(outcome.status, elapsed)
        if elapsed >= timeout:
            progress.finish(f"still {outcome.status}", elapsed)
            raise WaitTimeout(
                f"gave up waiting after {format_elapsed(elapsed)}: the endpoint is still {outcome.status} "
                "(it carries on in AWS; `byoc status` shows where it is)"
            )
        sleep(min(interval, max(0.0, timeout - elapsed)) or interval)


def watch_endpoint(
    aws: Aws, endpoint: str, interpret: Callable[[dict | None], Outcome], waiting: Waiting
) -> Outcome:
    """Wait for `endpoint` to settle as `interpret` reads it, showing progress on stderr."""
    return wait(
        lambda: aws.sagemaker.describe_endpoint(endpoint),
        interpret,
        Progress(f"endpoint {endpoint}", sys.stderr),
        timeout=waiting.timeout,
        interval=waiting.interval,
    )
