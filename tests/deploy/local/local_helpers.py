"""Helpers of the local-endpoint tests: ASGI apps on loopback threads, boto3 clients for a front."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from container.serving.server_process import LOOPBACK, free_port

ROOT = Path(__file__).resolve().parents[3]
COMMAND_TIMEOUT_SECONDS = 180


class ThreadServer:
    """An ASGI app served by uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        config = uvicorn.Config(app, host=LOOPBACK, port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 10) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def runtime_client(url: str):
    """boto3's sagemaker-runtime client pointed at a local front, with fake credentials, no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=70),
    )


class LocalCli:
    """`byoc local ...` in a subprocess, against a private state home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "BYOC_LOCAL_HOME": str(home), "BYOC_LOCAL_HEALTH_INTERVAL": "0.5"}

    def __call__(self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT_SECONDS):
        result = subprocess.run(
            [sys.executable, "-m", "byoc", "local", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=ROOT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"byoc local {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def up(self, name: str, image: str, archive: Path, *extra: str) -> str:
        """The endpoint's runtime URL (the last line `byoc local up` prints)."""
        result = self(
            "up",
            name,
            "--image",
            image,
            "--model-data",
            str(archive),
            "--env",
            "SAGEMAKER_MODEL_SERVER_WORKERS=1",
            *extra,
        )
        return result.stdout.strip().splitlines()[-1]
