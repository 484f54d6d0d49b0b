"""The SageMaker Python SDK 2.x's local-mode Transformer against this project's image, with and without
a strategy, beside `byoc local transform` on the same file.

The SDK's behaviour cited (sagemaker 2.x, src/sagemaker/local/entities.py _LocalTransformJob, and
local/data.py): without a strategy it asks the container's /execution-parameters and takes its
BatchStrategy as is; this image answers "MULTI_RECORD", as AWS's containers and AWS's documented
example do ("Use Your Own Inference Code with Batch Transform"), and the SDK accepts only
"MultiRecord", so it fails with an unformatted `Invalid Batch Strategy: %s` and leaves its container
running. With AssembleWith Line it writes a newline after every request's answer, which here already
ends with one: a blank line per mini-batch. `byoc local transform` takes both spellings and writes
one line per record.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from docker_helpers import ROOT
from sdk_local_helpers import run_sdk

from container.serving.server_process import free_port

pytestmark = pytest.mark.docker
ROWS = 2_000


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Path]:
    values = (
        np.random.default_rng(3).uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(ROWS, 4)).round(4)
    )
    directory = tmp_path_factory.mktemp("sdk-transform-input")
    np.savetxt(directory / "rows.csv", values, fmt="%.4f", delimiter=",")
    return values, directory


def byoc_transform(image: str, archive: Path, source: Path, output: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))}
    command = [
        sys.executable,
        "-m",
        "byoc",
        "local",
        "transform",
        "--image",
        image,
        "--model-data",
        str(archive),
    ]
    command += ["--input", str(source), "--output", str(output), "--content-type", "text/csv"]
    command += ["--accept", "text/csv", "--split-type", "Line", "--assemble-with", "Line", "--no-progress"]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def predictions(answer: bytes) -> np.ndarray:
    lines = [line for line in answer.split(b"\n") if line.strip()]
    return np.loadtxt(io.BytesIO(b"\n".join(lines)), delimiter=",", ndmin=2)


def test_with_a_strategy_the_sdk_transforms_every_row(
    sdk_python: str,
    sdk_environment: dict[str, str],
    sdk_image: str,
    model_archive: Path,
    trained_model: Any,
    rows: tuple[np.ndarray, Path],
    tmp_path: Path,
) -> None:
    values, source = rows
    result = run_sdk(
        sdk_python, sdk_environment, "sdk_transformer.py", sdk_image, str(model_archive), str(source),
        str(tmp_path / "sdk"), str(free_port()), "MultiRecord",
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"status": "Completed"}
    sdk_answer = (tmp_path / "sdk" / "rows.csv.out").read_bytes()
    assert (predictions(sdk_answer)[:, 0].astype(int) == trained_model.predict(values)).all()
    # One request held every row (MultiRecord, 6 MB): the SDK's newline after it is a blank line.
    assert sdk_answer.endswith(b"\n\n")
    done = byoc_transform(sdk_image, model_archive, source, tmp_path / "byoc")
    assert done.returncode == 0, done.stderr
    byoc_answer = (tmp_path / "byoc" / "rows.csv.out").read_bytes()
    assert byoc_answer == sdk_answer[:-1]  # the same predictions, without the blank line


def test_without_a_strategy_the_sdk_refuses_what_the_container_answers(
    sdk_python: str,
    sdk_environment: dict[str, str],
    sdk_image: str,
    model_archive: Path,
    trained_model: Any,
    rows: tuple[np.ndarray, Path],
    tmp_path: Path,
) -> None:
    values, source = rows
    result = run_sdk(
        sdk_python, sdk_environment, "sdk_transformer.py", sdk_image, str(model_archive), str(source),
        str(tmp_path / "sdk"), str(free_port()), "none",
    )  # fmt: skip
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "error", outcome
    assert outcome["error"] == (
        'ValueError: Invalid Batch Strategy: %s - Valid Strategies: "SingleRecord", "MultiRecord"'
    )
    assert outcome["left_running"], (
        "the SDK stopped its container after the error (it used to leave it running)"
    )
    assert not (tmp_path / "sdk" / "rows.csv.out").exists()
    # The same job without --strategy: /execution-parameters' "MULTI_RECORD" is taken as MultiRecord.
    done = byoc_transform(sdk_image, model_archive, source, tmp_path / "byoc")
    assert done.returncode == 0, done.stderr
    assert "BatchStrategy=MultiRecord (/execution-parameters)" in done.stderr
    answer = (tmp_path / "byoc" / "rows.csv.out").read_bytes()
    assert (predictions(answer)[:, 0].astype(int) == trained_model.predict(values)).all()
