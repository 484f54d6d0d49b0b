"""Waiting for an endpoint: what its state means, and a progress display while it changes.

`interpret_create` and `interpret_update` turn one DescribeEndpoint answer into an Outcome (pure).
`wait` polls with a bound on time, showing a single updating line on a terminal and a line per
status change (and every `report_every` seconds) otherwise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed", "Deleting")
WAITING = ("Creating", "Updating", "SystemUpdating", "RollingBack")


@dataclass(frozen=True)
class Outcome:
    done: bool  # stop waiting
    ok: bool  # the change succeeded
    status: str  # EndpointStatus (or "Gone")
    message: str = ""


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


def format_elapsed(seconds: float) -> str:
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    """One updating line on a TTY; otherwise a line per status change and every `report_every` s."""

    def __init__(self, label: str, stream: TextIO | None = None, report_every: float = 30.0) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.report_every = report_every
        self._last_status: str | None = None
        self._last_report = float("-inf")
        self._width = 0

    def update(self, status: str, elapsed: float) -> None:
        line = f"{self.label}: {status} ({format_elapsed(elapsed)})"
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = max(self._width, len(line))
            self.stream.flush()
        elif status != self._last_status or elapsed - self._last_report >= self.report_every:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last_report = elapsed
        self._last_status = status

    def finish(self, status: str, elapsed: float) -> None:
        line = f"{self.label}: {status} after {format_elapsed(elapsed)}"
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width) + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class WaitTimeout(RuntimeError):
    pass


def wait(
    describe: Callable[[], dict | None],
    interpret: Callable[[dict | None], Outcome],
    progress: Progress,
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
