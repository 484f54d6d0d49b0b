"""The front's daemon process: started per endpoint, waited for, and stopped.

`python -m deploy.local.front STATE_FILE` in its own session, so it outlives the command that
started it and Ctrl-C in that terminal does not reach it; its output goes to front.log in the
endpoint's work directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.local.errors import LocalEndpointError
from deploy.local.front_api import FrontClient
from deploy.local.state import EndpointState

MODULE = "deploy.local.front"
READY_SECONDS = 30
STOP_SECONDS = 15
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def launch(state_path: Path, work_dir: Path) -> subprocess.Popen[bytes]:
    """Start the front of the endpoint whose state file is `state_path` (it does not wait)."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(PACKAGE_ROOT), environment.get("PYTHONPATH", "")) if part
    )
    with open(work_dir / "front.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", MODULE, str(state_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(work_dir),
            env=environment,
            start_new_session=True,
            close_fds=True,
        )


def wait_ready(process: subprocess.Popen[bytes], state: EndpointState, work_dir: Path) -> None:
    """Until the front answers with every instance healthy; LocalEndpointError with its log if not."""
    client = FrontClient(state.name, state.url)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalEndpointError(
                f"the front exited with status {process.returncode}:\n{_tail(work_dir / 'front.log')}"
            )
        status = client.status()
        if status is not None and status.get("healthy") == len(state.instances):
            return
        time.sleep(0.2)
    raise LocalEndpointError(
        f"the front did not come up in {READY_SECONDS} s:\n{_tail(work_dir / 'front.log')}"
    )


def stop(pid: int | None) -> None:
    """SIGTERM to the front, SIGKILL if it has not gone in STOP_SECONDS; nothing if `pid` is not one."""
    if not pid or not _is_front(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True


def _is_front(pid: int) -> bool:
    """Whether `pid` is a front process (and not a recycled pid of something else)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _alive(pid) and not Path("/proc").is_dir()
    return MODULE.encode() in command


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
