"""The SageMaker Python SDK's Predictor, with its CSV and JSON serializers, against a local endpoint.

The SDK is not a dev dependency: `sagemaker` 3.x installs about 1 GB here (mlflow, pyarrow, ...),
and 2.x (`pip install "sagemaker<3"`, about 300 MB with pandas) would downgrade `packaging` and add
fastapi, protobuf and pandas to the shared test environment. So this test runs in whichever Python
has it: this one, or the one BYOC_TEST_SAGEMAKER_PYTHON names (e.g. a venv made with
`python3 -m venv /tmp/sdk && /tmp/sdk/bin/pip install "sagemaker<3"`); otherwise it skips, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_helpers import LocalCli

pytestmark = pytest.mark.docker

HERE = Path(__file__).resolve().parent
PYTHON_ENV = "BYOC_TEST_SAGEMAKER_PYTHON"


def sdk_python() -> str | None:
    chosen = os.environ.get(PYTHON_ENV, "").strip()
    if chosen:
        return chosen
    if importlib.util.find_spec("sagemaker") is not None:
        return sys.executable
    return None


@pytest.fixture(scope="module")
def python() -> str:
    found = sdk_python()
    if found is None:
        pytest.skip(
            "the SageMaker Python SDK is not installed (too heavy for the dev extra); set "
            f"{PYTHON_ENV} to a Python that has `sagemaker<3` to run this test"
        )
    return found


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
