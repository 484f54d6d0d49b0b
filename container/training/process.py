"""Run the training script: its output straight to the log, SIGTERM and SIGINT forwarded, a deadline.

SageMaker stops a job (StopTrainingJob, MaxRuntimeInSeconds) by sending SIGTERM to the container's
first process and SIGKILL 120 s later ("Use Your Own Training Algorithms",
https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-dockerfile.html).
AWS's training toolkit forwards nothing, so a script behind it never sees that SIGTERM. Here the
script runs in a process group of its own; a SIGTERM or SIGINT this process receives goes to that
whole group (the script and whatever it started), and if the script has not stopped after the grace
period, the group is killed, so that `train` always exits before SageMaker's SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

FORWARDED = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Outcome:
    returncode: int  # negative: killed by that signal
    stop_signal: int | None = None  # the signal this process received and passed on, if any
    killed_after_grace: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(command: list[str], *, env: Mapping[str, str], cwd: Path, grace_seconds: float) -> Outcome:
    """Run `command` to its end; forward stop signals to it; kill it `grace_seconds` after one."""
    process = subprocess.Popen(command, env=dict(env), cwd=cwd, start_new_session=True)
    received: list[int] = []
    killed = threading.Event()
    timer: list[threading.Timer] = []

    def kill_after_grace() -> None:
        if process.poll() is None:
            log.error("the script did not stop %.0f s after the signal: killing it", grace_seconds)
            killed.set()
            _signal_group(process.pid, signal.SIGKILL)

    def forward(signum: int, frame: FrameType | None) -> None:
        if not received:
            log.warning(
                "received %s: passing it to the script, which has %.0f s to stop",
                signal.Signals(signum).name,
                grace_seconds,
            )
            deadline = threading.Timer(grace_seconds, kill_after_grace)
            deadline.daemon = True
            deadline.start()
            timer.append(deadline)
        received.append(signum)
        _signal_group(process.pid, signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        returncode = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for deadline in timer:
            deadline.cancel()
    # Whatever the script left running in its group (a data loader, a server it started) goes too.
    _signal_group(process.pid, signal.SIGKILL)
    return Outcome(returncode, received[0] if received else None, killed.is_set())


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
