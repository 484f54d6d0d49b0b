"""Helpers for the tests that run real `serve` processes on loopback: model directories, servers, gates.

A module of its own, not conftest.py, so that tests import it by a name no other test directory uses.

Every server here is `python -m container.serving.server serve` started by
container.serving.server_process.ServerProcess, bound to 127.0.0.1 on a free port. Every wait is
bounded: a server that hangs fails its test with its log's tail instead of hanging the suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # model_artifacts is not an installed package
    sys.path.insert(0, str(ROOT))

from container.serving.server_process import ServerNotReady, ServerProcess  # noqa: E402

START_TIMEOUT = 60.0  # generous: the machine is shared; a healthy server is ready in about a second
EXIT_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0

# Iris rows with known classes (0 = setosa, 2 = virginica).
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
CSV_ROWS = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"

# What must never reach a client: traceback text, source file locations, the server's own paths.
LEAK = re.compile(r"Traceback|File \"|\.py\b|site-packages|" + re.escape(str(ROOT)))

# Included in user modules that wait for the test to let them go on (see Gates).
GATE_HELPERS = '''
import os as _os
import time as _time


def _gate(name, limit=30.0):
    """Mark `name` as started, then wait (bounded) until the test opens its gate."""
    gates = _os.environ["TEST_GATES"]
    open(_os.path.join(gates, f"{name}.{_os.getpid()}.{_time.monotonic_ns()}.started"), "w").close()
    deadline = _time.monotonic() + limit
    while not _os.path.exists(_os.path.join(gates, f"{name}.go")):
        if _time.monotonic() > deadline:
            raise RuntimeError(f"test gate {name} was never opened")
        _time.sleep(0.02)
    open(_os.path.join(gates, f"{name}.{_os.getpid()}.{_time.monotonic_ns()}.done"), "w").close()
'''


def make_model_dir(
    root: Path,
    model_file: Path | None,
    code: Mapping[str, str] | None = None,
) -> Path:
    """A model directory as SageMaker extracts it: model.joblib, and code/<name> for each `code` entry."""
    model_dir = root / "model"
    model_dir.mkdir(parents=True)
    if model_file is not None:
        (model_dir / "model.joblib").write_bytes(model_file.read_bytes())
    if code:
        write_code(model_dir / "code", code)
    return model_dir


def write_code(directory: Path, files: Mapping[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


@contextmanager
def serving(
    model_dir: Path,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    port: int | None = None,
    ready: bool = True,
) -> Iterator[ServerProcess]:
    """A running server (ready, unless ready=False); stopped and its log removed afterwards."""
    server = ServerProcess(model_dir, env=env, workers=workers, port=port)
    server.start()
    try:
        if ready:
            try:
                server.wait_until_ready(timeout=START_TIMEOUT)
            except ServerNotReady as exc:
                pytest.fail(str(exc))
        yield server
    finally:
        server.close()


def run_until_exit(model_dir: Path, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Start a server that should refuse to start: its exit status and its whole output."""
    with ServerProcess(model_dir, env=env) as server:
        try:
            status = server.wait_for_exit(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server was still running after {EXIT_TIMEOUT:g} s:\n{server.log_tail()}")
        return status, server.log_text()


def client(server: ServerProcess) -> httpx.Client:
    """An HTTP client for `server` that sends no Accept header unless a request sets one."""
    http = httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT, trust_env=False)
    del http.headers["accept"]
    return http


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


class Gates:
    """Files through which a test holds user code at a point (see GATE_HELPERS) and lets it go."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.env = {"TEST_GATES": str(directory)}

    def started(self, name: str) -> list[Path]:
        return sorted(self.directory.glob(f"{name}.*.started"))

    def done(self, name: str) -> list[Path]:
        return sorted(self.directory.glob(f"{name}.*.done"))

    def wait_started(self, name: str, count: int = 1, timeout: float = 30.0) -> None:
        wait_until(lambda: len(self.started(name)) >= count, f"{count} call(s) to reach gate {name}", timeout)

    def open(self, name: str) -> None:
        (self.directory / f"{name}.go").touch()


def error_body(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Check an error response (status, JSON body with code and message, nothing leaked); its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert not LEAK.search(response.text), f"internals leaked into an error body: {response.text}"
    body = response.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body.get("code") == code, body
    return body


def access_lines(server: ServerProcess) -> list[dict[str, Any]]:
    """The server's JSON access-log lines (stdout) parsed, in order."""
    lines = []
    for line in server.log_text().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def worker_pids(master_pid: int) -> set[int]:
    """The live child processes of `master_pid`, read from /proc (psutil is not a dependency)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while we looked
        # The command name is in parentheses and may hold spaces: the fields after it are fixed.
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == master_pid and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children
