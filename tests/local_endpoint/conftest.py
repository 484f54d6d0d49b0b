"""Fixtures of the local-endpoint tests: a private BYOC_LOCAL_HOME, `byoc local` as a user runs it,
and a second model archive (model_v2/inference.py) for blue/green.

The image and the sample archive are the session fixtures of tests/conftest.py (shared with
tests/docker). Docker-less tests here (wire, pool, state, front against fake containers) need none.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_helpers import ROOT, docker, labels
from local_helpers import LocalCli

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def local_cli(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[LocalCli]:
    cli = LocalCli(tmp_path_factory.mktemp("byoc-local-home"))
    yield cli
    cli("down", "--all", check=False)


@pytest.fixture(scope="session")
def v2_archive(image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample model with model_v2/inference.py, trained and packaged inside the image."""
    out = tmp_path_factory.mktemp("archive-v2")
    script = (
        "set -e; python model_artifacts/train.py /tmp/model >/dev/null; "
        "byoc package /tmp/model/model.joblib --code /v2/inference.py -o /out/model-v2.tar.gz"
    )
    result = docker(
        "run",
        "--rm",
        "--network",
        "host",
        *labels(),
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "-e",
        "HOME=/tmp",
        "-v",
        f"{ROOT / 'model_artifacts'}:/src/model_artifacts:ro",
        "-v",
        f"{HERE / 'model_v2'}:/v2:ro",
        "-v",
        f"{out}:/out",
        "-w",
        "/src",
        image,
        "sh",
        "-c",
        script,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"packaging model_v2 in the image failed:\n{result.stdout}{result.stderr}")
    return out / "model-v2.tar.gz"
