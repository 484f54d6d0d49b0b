"""Fixtures shared by the integration tests (helpers live in integration_helpers.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from integration_helpers import ROOT  # noqa: F401  (puts the repository root on sys.path)

from model_artifacts.train import train


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
