"""Fixtures shared across the test directories: a clean environment for server processes, the sample
model, and what the Docker tests need (tests/docker, tests/deploy/local).

The engine, the base image, the image and the sample model archives are session fixtures here, so
that a session running both directories builds the image and packages the sample model once.
Without a Docker engine these tests skip on a developer's machine and FAIL in CI (CI=true), where
.ci/run starts one. The base image is built once per machine with debootstrap
(local_test/build_base_image.sh, cached by tag) unless BYOC_TEST_BASE_IMAGE names one to use
instead (python:3.11-slim-bookworm where Docker Hub is reachable). The image is built once per
session; docker's layer cache makes a rebuild with unchanged sources take seconds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from docker_helpers import LOCAL_TEST, ROOT, SESSION, docker, in_ci, package_in_image, remove_containers

from deploy.local.docker import available as docker_problem
from model_artifacts.train import train

IMAGE_REPOSITORY = "byoc-toolkit"
BUILD_TIMEOUT_SECONDS = 1200


# --- server processes and the sample model --------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _clean_server_environment() -> Iterator[None]:
    """Servers inherit os.environ: keep a developer's SAGEMAKER_*/BYOC_* settings out of them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("SAGEMAKER_", "BYOC_")) or name.lower().endswith("_proxy"):
                patch.delenv(name)
        yield


@pytest.fixture(scope="session")
def trained_model() -> Any:
    return train()


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory, trained_model: Any) -> Path:
    path = tmp_path_factory.mktemp("trained") / "model.joblib"
    joblib.dump(trained_model, path)
    return path


# --- Docker --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    problem = docker_problem()
    if problem is not None:
        if in_ci():
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
# Trained and packaged inside the image itself (model_artifacts/train.py, then `byoc package`, which
# verifies each archive by serving it): the versions recorded in its manifest are the image's, as
# they are for a user who trains with the image they serve from.


@pytest.fixture(scope="session")
def _packaged(image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("archives")
    script = (
        "set -e; python model_artifacts/train.py /tmp/model >/dev/null; "
        "byoc package /tmp/model/model.joblib -o /out/model.tar.gz; "
        "byoc package /tmp/model/model.joblib --code model_artifacts/code/inference.py "
        "-o /out/model-custom.tar.gz"
    )
    package_in_image(image, script, out)
    return {"default": out / "model.tar.gz", "custom": out / "model-custom.tar.gz"}


@pytest.fixture(scope="session")
def model_archive(_packaged: dict[str, Path]) -> Path:
    """model.tar.gz of the sample model: model.joblib and .byoc-manifest.json at the root."""
    return _packaged["default"]


@pytest.fixture(scope="session")
def custom_model_archive(_packaged: dict[str, Path]) -> Path:
    """The same with model_artifacts/code/inference.py as code/inference.py."""
    return _packaged["custom"]
