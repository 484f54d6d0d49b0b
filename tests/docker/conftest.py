"""Fixtures of the Docker tests: the engine, the base image, the image, the sample model archives.

Without a Docker engine these tests skip on a developer's machine and FAIL in CI (CI=true), where
.ci/run starts one. The base image is built once per machine with debootstrap
(local_test/build_base_image.sh, cached by tag) unless BYOC_TEST_BASE_IMAGE names one to use
instead (python:3.11-slim-bookworm where Docker Hub is reachable). The image is built once per
session; docker's layer cache makes a rebuild with unchanged sources take seconds.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import pytest
from docker_helpers import (
    LOCAL_TEST,
    ROOT,
    SESSION,
    Container,
    docker,
    extract_in_image,
    remove_containers,
)

IMAGE_REPOSITORY = "byoc-toolkit"
BUILD_TIMEOUT_SECONDS = 1200


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if result.returncode != 0:
        return f"no Docker engine answers `docker info`: {(result.stderr or result.stdout).strip()}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    problem = _docker_problem()
    if problem is not None:
        if _in_ci():
            pytest.fail(f"CI=true but the Docker tests cannot run: {problem} (.ci/run starts dockerd)")
        pytest.skip(f"Docker tests need a running Docker engine: {problem}")
    remove_containers(session_only=False)  # strays of sessions that were killed
    yield
    remove_containers(session_only=True)


@pytest.fixture(scope="session")
def base_image(docker_engine: None) -> str:
    chosen = os.environ.get("BYOC_TEST_BASE_IMAGE", "").strip()
    if chosen:
        return chosen
    result = subprocess.run(
        ["bash", str(LOCAL_TEST / "build_base_image.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            "could not build the debootstrap base image (needs root and debootstrap; or set "
            f"BYOC_TEST_BASE_IMAGE=python:3.11-slim-bookworm where Docker Hub is reachable):\n"
            f"{result.stderr[-3000:]}"
        )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image built from this working tree; its id. The session's tag is removed at the end."""
    tag = f"{IMAGE_REPOSITORY}:test-{SESSION}"
    iidfile = tmp_path_factory.mktemp("build") / "iid"
    result = docker(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--iidfile",
        str(iidfile),
        "-t",
        tag,
        str(ROOT),
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"docker build failed:\n{(result.stdout + result.stderr)[-4000:]}")
    yield iidfile.read_text().strip()
    docker("rmi", tag, check=False)


# --- the sample model.tar.gz ------------------------------------------------------------------
# Built here from model_artifacts.train until `byoc package` lands; then this becomes one call.


def build_model_archive(destination: Path, *, with_code: bool = False) -> Path:
    """model.tar.gz as SageMaker wants it: model.joblib at the root (and code/inference.py)."""
    from model_artifacts.train import train

    model_bytes = io.BytesIO()
    joblib.dump(train(), model_bytes)
    files = {"model.joblib": model_bytes.getvalue()}
    if with_code:
        files["code/inference.py"] = (ROOT / "model_artifacts" / "code" / "inference.py").read_bytes()
    with tarfile.open(destination, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return destination


@pytest.fixture(scope="session")
def model_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_archive(tmp_path_factory.mktemp("archive") / "model.tar.gz")


@pytest.fixture(scope="session")
def custom_model_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_archive(tmp_path_factory.mktemp("archive-custom") / "model.tar.gz", with_code=True)


@pytest.fixture(scope="session")
def model_dir(image: str, model_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample archive extracted as SageMaker would, by the image's own `byoc extract`."""
    return extract_in_image(image, model_archive, tmp_path_factory.mktemp("extracted"))


# --- containers -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def serving(image: str, model_dir: Path) -> Iterator[Container]:
    """The shared container: the sample model mounted, two workers, a custom port."""
    container = Container(image, model_dir=model_dir, workers=2)
    try:
        container.wait_until_ready()
        yield container
    finally:
        container.remove()


@pytest.fixture
def start_container(image: str) -> Iterator[Callable[..., Container]]:
    """Start containers of the image for one test; all are removed when it ends."""
    started: list[Container] = []

    def start(*, ready: bool = True, **kwargs) -> Container:
        container = Container(kwargs.pop("image", image), **kwargs)
        started.append(container)
        if ready:
            container.wait_until_ready()
        return container

    yield start
    for container in started:
        container.remove()
