"""Fixtures of the SageMaker SDK local-mode tests: the SDK's Python, the compose shims, a tagged image.

The SDK's Python is the side venv sdk_venv.py (with the local-endpoint tests) builds once per machine (or the
Python BYOC_TEST_SAGEMAKER_PYTHON names). Local mode needs the `docker-compose` command (Debian's
package; .ci/run installs it): without it these tests skip, or fail when CI=true.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_helpers import LABEL, SESSION, docker, in_ci

HERE = Path(__file__).resolve().parent
# sdk_venv.py lives with the local-endpoint tests, which use the same SDK.
sys.path.insert(0, str(HERE.parent / "deploy" / "local"))
from sdk_venv import ProvisionError, ensure_sdk_python  # noqa: E402

PYTHON_ENV = "BYOC_TEST_SAGEMAKER_PYTHON"


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true but the SDK local-mode tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sdk_python(docker_engine: None, request: pytest.FixtureRequest) -> str:
    chosen = os.environ.get(PYTHON_ENV, "").strip()
    if chosen:
        return chosen
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with uncaptured:
            print(f"\n[sagemaker sdk] {message}", file=sys.stderr, flush=True)

    try:
        return str(ensure_sdk_python(say))
    except ProvisionError as exc:
        _unavailable(f"the SageMaker SDK venv could not be built: {exc}\n{exc.output[-2000:]}")
        raise


@pytest.fixture(scope="session")
def compose_shims(sdk_python: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A directory to put first on PATH: `docker-compose` (compose_shim.py) and a `docker` that
    refuses `docker compose`, so the SDK always takes the shim (it tries compose v2 first)."""
    real_compose = shutil.which("docker-compose")
    real_docker = shutil.which("docker")
    if real_compose is None or real_docker is None:
        _unavailable("docker-compose is not installed (apt-get install docker-compose)")
    shims = tmp_path_factory.mktemp("compose-shims")
    compose = shims / "docker-compose"
    compose.write_text(f"#!{sdk_python}\n" + (HERE / "compose_shim.py").read_text())
    wrapper = shims / "docker"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# `docker compose` (v2) would bypass the shim: refuse it; pass everything else on.\n"
        'if [ "$1" = compose ]; then echo "docker compose is disabled in this test" >&2; exit 1; fi\n'
        f'exec {real_docker} "$@"\n'
    )
    for path in (compose, wrapper):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    log = tmp_path_factory.mktemp("compose-files")
    return {
        "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
        "BYOC_TEST_REAL_COMPOSE": real_compose,
        "BYOC_TEST_COMPOSE_LOG": str(log),
        "BYOC_TEST_LABELS": f"{LABEL}=1,{LABEL}.session={SESSION}",
    }


@pytest.fixture(scope="session")
def sdk_image(image: str) -> Iterator[str]:
    """The session's image under a name compose can use (the SDK passes it through as `image:`)."""
    tag = f"byoc-toolkit:sdk-{SESSION}"
    docker("tag", image, tag)
    yield tag
    docker("rmi", tag, check=False)


@pytest.fixture(scope="session")
def sdk_environment(
    compose_shims: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The SDK process's environment: fake credentials, AWS calls to a closed loopback port, no telemetry."""
    config = tmp_path_factory.mktemp("sagemaker-config") / "config.yaml"
    config.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
    )
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_", "BYOC_"))}
    return {
        **keep,
        **compose_shims,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Local mode should reach no AWS API; if it tries, it meets a closed port on this machine.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
