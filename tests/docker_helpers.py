"""Helpers for the Docker tests (tests/docker, tests/deploy/local): docker, containers, loopback HTTP.

Every container is started on host networking with the server bound to 127.0.0.1 on a free port,
and labelled so that a session's leftovers (and older sessions' strays) are removed.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from container.serving.server_process import LOOPBACK, free_port  # noqa: E402

LOCAL_TEST = ROOT / "local_test"
PAYLOADS = LOCAL_TEST / "payloads"
LABEL = "byoc-test"
SESSION = uuid.uuid4().hex[:12]
STRAY_AFTER_SECONDS = 3600


def in_ci() -> bool:
    """CI=true: a test whose prerequisites (Docker, the registry, the SDK's venv) are missing fails
    instead of skipping."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class DockerError(RuntimeError):
    pass


def docker(*args: str, timeout: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the docker CLI; DockerError with its output when it fails and `check` is set."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise DockerError(
            f"docker {' '.join(args)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def labels() -> list[str]:
    return [
        "--label",
        f"{LABEL}=1",
        "--label",
        f"{LABEL}.session={SESSION}",
        "--label",
        f"{LABEL}.started={int(time.time())}",
    ]


def remove_containers(*, session_only: bool) -> None:
    """Remove this session's containers, or (at start) any test container older than an hour."""
    selector = f"label={LABEL}.session={SESSION}" if session_only else f"label={LABEL}"
    listed = docker(
        "ps", "-a", "--filter", selector, "--format", f'{{{{.ID}}}} {{{{.Label "{LABEL}.started"}}}}'
    )
    now = time.time()
    stale = []
    for line in listed.stdout.split("\n"):
        if not line.strip():
            continue
        container_id, _, started = line.partition(" ")
        if session_only or not started.isdigit() or now - int(started) > STRAY_AFTER_SECONDS:
            stale.append(container_id)
    if stale:
        docker("rm", "-f", "-v", *stale, check=False)


def client(port: int, timeout: float = 30) -> httpx.Client:
    # trust_env=False: never send loopback traffic through a proxy from the environment.
    return httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=timeout, trust_env=False)


class Container:
    """One container of the image, serving on a free loopback port of this machine."""

    def __init__(
        self,
        image: str,
        *,
        args: Sequence[str] = ("serve",),
        model_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        port: int | None = None,
        mounts: Mapping[Path, str] | None = None,
        docker_args: Sequence[str] = (),
    ) -> None:
        self.image = image
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        command = ["run", "-d", "--network", "host", *labels(), *docker_args]
        if model_dir is not None:
            command += ["-v", f"{model_dir}:/opt/ml/model:ro"]
        for source, target in (mounts or {}).items():
            command += ["-v", f"{source}:{target}:ro"]
        settings = {
            "BYOC_BIND_HOST": LOOPBACK,
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
            **(env or {}),
        }
        for name, value in settings.items():
            command += ["-e", f"{name}={value}"]
        self.workers = workers
        self.id = docker(*command, image, *args).stdout.strip()

    def state(self) -> dict:
        return json.loads(docker("inspect", "-f", "{{json .State}}", self.id).stdout)

    def logs(self) -> tuple[str, str]:
        """(stdout, stderr) of the container so far."""
        result = docker("logs", self.id)
        return result.stdout, result.stderr

    def log_tail(self, lines: int = 60) -> str:
        out, err = self.logs()
        return "\n".join((out + err).splitlines()[-lines:])

    def all_workers_loaded(self) -> bool:
        # /ping is answered by whichever worker takes the connection, and each worker loads its own
        # model: the first 200 does not mean that every worker is ready. Wait for each one's
        # "model loaded" line, so that no test request meets a worker that is still loading.
        _, err = self.logs()
        return err.count("worker ready") >= self.workers

    def wait_until_ready(self, timeout: float = 120) -> float:
        """Poll /ping until 200 and every worker has loaded the model; the seconds it took.

        DockerError if the container exits first, or is not ready within `timeout`.
        """
        started = time.monotonic()
        last = "no answer"
        with client(self.port, timeout=2) as http:
            while time.monotonic() - started < timeout:
                state = self.state()
                if not state["Running"]:
                    raise DockerError(
                        f"the container exited with status {state['ExitCode']} before it was ready:\n"
                        f"{self.log_tail()}"
                    )
                try:
                    response = http.get("/ping")
                    if response.status_code == 200:
                        if self.all_workers_loaded():
                            return time.monotonic() - started
                        last = f"200, but not every one of {self.workers} workers logged 'worker ready'"
                    else:
                        last = f"{response.status_code} {response.text}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.2)
        raise DockerError(f"/ping was not 200 after {timeout:g} s (last: {last}):\n{self.log_tail()}")

    def http(self, timeout: float = 30) -> httpx.Client:
        return client(self.port, timeout)

    def stop(self, timeout: int = 30) -> float:
        """`docker stop` (SIGTERM, then SIGKILL after `timeout` s); the seconds it took."""
        started = time.monotonic()
        docker("stop", "--time", str(timeout), self.id, timeout=timeout + 30)
        return time.monotonic() - started

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.id, check=False)


def extract_in_image(image: str, archive: Path, destination: Path) -> Path:
    """Extract model.tar.gz with the image's own `byoc extract` (the toolkit's safe extraction)."""
    destination.mkdir(parents=True, exist_ok=True)
    docker(
        "run",
        "--rm",
        "--network",
        "host",
        *labels(),
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "-v",
        f"{archive}:/in/model.tar.gz:ro",
        "-v",
        f"{destination}:/out",
        image,
        "byoc",
        "extract",
        "/in/model.tar.gz",
        "/out/model",
    )
    return destination / "model"


# --- the payload table in local_test/payloads/README.md -----------------------------------------


@dataclass(frozen=True)
class PayloadCase:
    payload: str
    content_type: str
    accept: str
    status: int
    answer: str

    @property
    def id(self) -> str:
        return f"{self.payload}->{self.accept or 'default'}"


_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def payload_cases(readme: Path = PAYLOADS / "README.md") -> list[PayloadCase]:
    cases = []
    for line in readme.read_text().splitlines():
        if not _ROW.match(line):
            continue
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        payload, content_type, accept, status, answer = cells
        cases.append(PayloadCase(payload, content_type, accept, int(status), answer))
    return cases


def predictions_from(response: httpx.Response) -> list[int]:
    """The predicted classes, from whichever response format the server chose."""
    media_type = response.headers["content-type"].split(";")[0].strip()
    if media_type == "application/json":
        return [int(p) for p in response.json()["predictions"]]
    if media_type == "application/jsonlines":
        return [int(json.loads(line)["prediction"]) for line in response.text.splitlines() if line]
    if media_type == "text/csv":
        return [int(float(line.split(",")[0])) for line in response.text.splitlines() if line]
    if media_type == "application/x-npy":
        import numpy as np

        return [int(p) for p in np.load(io.BytesIO(response.content), allow_pickle=False).tolist()]
    raise AssertionError(f"unexpected response type {media_type!r}")


def package_in_image(image: str, script: str, out: Path, mounts: dict[Path, str] | None = None) -> None:
    """Run `script` (training and `byoc package`) inside the image, as the current user, with the
    repository's model_artifacts at /src/model_artifacts, `out` at /out and any extra `mounts`
    (read-only); pytest.fail with its output when it fails.
    """
    volumes = [f"{ROOT / 'model_artifacts'}:/src/model_artifacts:ro"]
    volumes += [f"{source}:{target}:ro" for source, target in (mounts or {}).items()]
    volumes.append(f"{out}:/out")
    result = docker(
        "run", "--rm", "--network", "host", *labels(),
        "--user", f"{os.getuid()}:{os.getgid()}", "-e", "HOME=/tmp",
        *[arg for volume in volumes for arg in ("-v", volume)],
        "-w", "/src", image, "sh", "-c", script,
        timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"training and `byoc package` in the image failed:\n{result.stdout}{result.stderr}")
