"""The SageMaker Python SDK's Predictor, with its CSV and JSON serializers, against a local endpoint.

The SDK is not a dev dependency: `sagemaker` 3.x installs about 1 GB here (mlflow, pyarrow, ...)
and has no `sagemaker.predictor`, and 2.x (about 300 MB with pandas) would downgrade `packaging` and
add fastapi, protobuf and pandas to the shared test environment. So sdk_predict.py runs in another
Python: the one BYOC_TEST_SAGEMAKER_PYTHON names; else this one if it has `sagemaker<3`; else a side
venv that sdk_venv.py builds once per machine ($XDG_CACHE_HOME or ~/.cache, in byoc-tests/) and
later runs reuse. If that build fails, the test skips saying why, or fails with pip's output
when CI=true.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_helpers import in_ci
from local_helpers import LocalCli
from sdk_venv import ProvisionError, ensure_sdk_python

pytestmark = pytest.mark.docker

HERE = Path(__file__).resolve().parent
PYTHON_ENV = "BYOC_TEST_SAGEMAKER_PYTHON"


def has_sdk_v2() -> bool:
    # The distribution's version, not an import: importing sagemaker takes seconds, and 3.x (which
    # lacks the v2 Predictor) would import fine.
    try:
        return int(importlib.metadata.version("sagemaker").split(".")[0]) < 3
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False


@pytest.fixture(scope="session")
def python(docker_engine: None, request: pytest.FixtureRequest) -> str:
    # Session scope and docker_engine: without an engine the test skips before a 300 MB venv is
    # built for it, and a failed build skips it before the image is built.
    chosen = os.environ.get(PYTHON_ENV, "").strip()
    if chosen:
        return chosen
    if has_sdk_v2():
        return sys.executable

    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        # Shown while the test runs (not only on failure): the build is a minute or so of silence.
        uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with uncaptured:
            print(f"\n[sagemaker sdk] {message}", file=sys.stderr, flush=True)

    try:
        return str(ensure_sdk_python(say))
    except ProvisionError as exc:
        if in_ci():
            pytest.fail(f"CI=true but the SageMaker SDK venv could not be built: {exc}\n{exc.output[-3000:]}")
        last_line = (exc.output.strip().splitlines() or [""])[-1]
        pytest.skip(
            f"the SageMaker SDK venv could not be built ({exc}: {last_line}); set {PYTHON_ENV} to a "
            "Python that has `sagemaker<3` to run this test"
        )


@pytest.fixture(scope="module")
def endpoint(python: str, local_cli: LocalCli, image: str, model_archive: Path) -> Iterator[str]:
    url = local_cli.up("sdk", image, model_archive)
    yield url
    local_cli("down", "sdk", check=False)


def test_predictor_with_csv_and_json_serializers(python: str, endpoint: str) -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    result = subprocess.run(
        [python, str(HERE / "sdk_predict.py"), "sdk"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert [int(float(row[0])) for row in answer["csv"]] == [0, 2]
    assert answer["json"]["predictions"] == [0, 2]
    assert answer["error"] == {"type": "ModelError", "status": 400}
