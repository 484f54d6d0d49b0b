"""Start `serve` as a child process on a loopback port, wait for it to be ready, and stop it.

Used by the demo, by `byoc package` to verify an archive through the real runtime, and by the
integration tests: one way to run the server natively, so all three exercise the same thing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

LOOPBACK = "127.0.0.1"

# The server is always on loopback: never let an http_proxy/HTTP_PROXY in the environment route the
# readiness probe through a proxy (urllib only bypasses hosts listed in no_proxy).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(below: int | None = None) -> int:
    """A free loopback port; with `below`, one from 20000 up to that number (MMS refuses ports
    above 32767)."""
    if below is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            return sock.getsockname()[1]
    for _ in range(200):
        port = random.randrange(20000, below)
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free loopback port between 20000 and {below}")


def port_is_free(port: int) -> bool:
    """Whether nothing listens on (or holds) this loopback port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def model_load_failed(ping_body: str) -> bool:
    """Whether a /ping answer's body is this runtime's "the model failed to load" ({"state":
    "failed"}): such a server stays unready, so waiting for it only hides the reason."""
    try:
        return json.loads(ping_body).get("state") == "failed"
    except (ValueError, AttributeError):
        return False


class ServerNotReady(RuntimeError):
    """The server exited or did not become healthy in time; the message has its log's tail."""


class ServerProcess:
    def __init__(
        self,
        model_dir: Path | str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        workers: int = 1,
        python: str | None = None,
    ) -> None:
        # `python`: another interpreter to serve with (packaging verifies in a private venv).
        self.python = python or sys.executable
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        # Kept open for the life of the server: its output goes here, read back for error messages.
        self._log = tempfile.NamedTemporaryFile(prefix="byoc-serve-", suffix=".log", delete=False)  # noqa: SIM115
        self.env = {
            **os.environ,
            "BYOC_MODEL_DIR": str(model_dir),
            "BYOC_BIND_HOST": LOOPBACK,
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [self.python, "-m", "container.serving.server", "serve"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_until_ready(
        self, timeout: float = 60.0, on_wait: Callable[[float, str], None] | None = None
    ) -> None:
        """Poll /ping until 200; ServerNotReady if the process exits or `timeout` passes."""
        assert self.process is not None, "start() first"
        started = time.monotonic()
        last = ""
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise ServerNotReady(
                    f"the server exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            status, last = self.ping()
            if status == 200:
                return
            if status == 503 and model_load_failed(last):
                # The model will not load on its own; waiting out the timeout would only hide that.
                raise ServerNotReady(f"the model failed to load: {last}\n{self.log_tail()}")
            if on_wait is not None:
                on_wait(time.monotonic() - started, last)
            time.sleep(0.1)
        raise ServerNotReady(
            f"the server was not ready after {timeout:g} s (last /ping: {last or 'no answer'}):\n"
            f"{self.log_tail()}"
        )

    def ping(self) -> tuple[int | None, str]:
        try:
            with _DIRECT.open(f"{self.url}/ping", timeout=2) as response:
                return response.status, ""
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")
        except OSError as error:
            return None, str(error)

    def wait_for_exit(self, timeout: float = 60.0) -> int:
        """Wait for a server that is expected to stop on its own (a start-up error); its exit status.

        subprocess.TimeoutExpired if it is still running after `timeout` seconds.
        """
        assert self.process is not None, "start() first"
        return self.process.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; the exit status (None if it never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def log_text(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def close(self) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
