"""The docker CLI, as `byoc local` uses it: containers of an endpoint, started the way SageMaker does."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence

LABEL = "byoc-local"


class DockerError(RuntimeError):
    pass


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise DockerError("the docker command is not installed") from None
    except subprocess.TimeoutExpired:
        raise DockerError(f"docker {args[0]} did not finish within {timeout:g} s") from None
    if check and result.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:2])} failed: {(result.stderr or result.stdout).strip()}")
    return result


def run_command(
    image: str,
    *,
    name: str,
    model_dir: str,
    port: int,
    env: Mapping[str, str],
    labels: Mapping[str, str],
    multi_model: bool = False,
) -> list[str]:
    """`docker run` arguments for one instance: `serve`, host networking, the model read-only,
    SAGEMAKER_BIND_TO_PORT on its own loopback port. Pure, so it is tested without Docker.

    A multi-model instance mounts `model_dir` (the extracted models) at /opt/ml/models and is told
    SAGEMAKER_MULTI_MODEL=true, as SageMaker does."""
    command = ["run", "-d", "--name", name, "--network", "host"]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    command += ["-v", f"{model_dir}:/opt/ml/models:ro" if multi_model else f"{model_dir}:/opt/ml/model:ro"]
    settings = {"BYOC_BIND_HOST": "127.0.0.1", **env, "SAGEMAKER_BIND_TO_PORT": str(port)}
    if multi_model:
        settings["SAGEMAKER_MULTI_MODEL"] = "true"
    for key, value in settings.items():
        command += ["-e", f"{key}={value}"]
    return [*command, image, "serve"]


def run(arguments: Sequence[str]) -> str:
    return docker(*arguments, timeout=120).stdout.strip()


def running(container: str) -> tuple[bool, int | None]:
    """(running, exit code) of a container; (False, None) when it no longer exists."""
    result = docker("inspect", "-f", "{{json .State}}", container, check=False, timeout=30)
    if result.returncode != 0:
        return False, None
    state = json.loads(result.stdout)
    return bool(state.get("Running")), state.get("ExitCode")


def log_tail(container: str, lines: int = 40) -> str:
    result = docker("logs", "--tail", str(lines), container, check=False, timeout=30)
    return (result.stdout + result.stderr).strip() or "(no output)"


def stop(containers: Sequence[str], grace_seconds: int = 30) -> None:
    if containers:
        docker("stop", "--time", str(grace_seconds), *containers, check=False, timeout=grace_seconds + 60)


def remove(containers: Sequence[str]) -> None:
    if containers:
        docker("rm", "-f", "-v", *containers, check=False, timeout=120)


def labelled(selectors: Mapping[str, str]) -> list[str]:
    """Ids of the containers (running or not) carrying every label in `selectors`."""
    arguments = ["ps", "-a", "-q"]
    for key, value in selectors.items():
        arguments += ["--filter", f"label={key}={value}"]
    return docker(*arguments, check=False, timeout=30).stdout.split()


def image_exists(image: str) -> bool:
    return docker("image", "inspect", image, check=False, timeout=30).returncode == 0


def available() -> str | None:
    """None when a Docker engine answers; otherwise what is wrong (also the Docker tests' probe)."""
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    except DockerError as exc:
        return str(exc)
    if result.returncode != 0:
        return f"no Docker engine answers: {(result.stderr or result.stdout).strip()}"
    return None
