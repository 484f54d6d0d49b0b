"""Fixtures of the local-endpoint tests: a private BYOC_LOCAL_HOME, `byoc local` as a user runs it,
and a second model archive (model_v2/inference.py) for blue/green.

The image and the sample archive are the session fixtures of tests/conftest.py (shared with
tests/docker). Docker-less tests here (wire, pool, state, front against fake containers) need none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_helpers import package_in_image
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
    package_in_image(image, script, out, mounts={HERE / "model_v2": "/v2"})
    return out / "model-v2.tar.gz"
