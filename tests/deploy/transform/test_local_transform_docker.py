"""`byoc local transform` with the image in Docker: the command as a user runs it.

Contracts: CreateTransformJob (SageMaker API reference) and "Use Your Own Inference Code with Batch
Transform" (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html): the
container started as `docker run IMAGE serve`, SAGEMAKER_BATCH always "true", the other SAGEMAKER_*
batching variables only when the job set them, Content-Type and Accept on every request.
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
from docker_helpers import ROOT, docker

pytestmark = pytest.mark.docker

ENV_CODE = """
import json
import os


def model_fn(model_dir):
    return None


def transform_fn(model, input_data, content_type, accept, context):
    names = ("SAGEMAKER_BATCH", "SAGEMAKER_MAX_PAYLOAD_IN_MB", "SAGEMAKER_BATCH_STRATEGY",
             "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "CUSTOM")
    seen = {
        "env": {name: os.environ.get(name) for name in names},
        "content_type": context.content_type,
        "accept": context.accept,
        "records": len(input_data.splitlines()),
    }
    return json.dumps(seen) + "\\n", "application/json"
"""


def byoc(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))}
    return subprocess.run(
        [sys.executable, "-m", "byoc", "local", "transform", *args, "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def no_containers_left() -> bool:
    return docker("ps", "-aq", "--filter", "label=byoc-local.transform").stdout.strip() == ""


def iris_rows(count: int) -> np.ndarray:
    return (
        np.random.default_rng(7).uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(count, 4)).round(4)
    )


def write_rows(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, rows, fmt="%.4f", delimiter=",")


CSV = [
    "--content-type",
    "text/csv",
    "--accept",
    "text/csv",
    "--split-type",
    "Line",
    "--assemble-with",
    "Line",
]


def test_100000_rows_through_two_instances_row_by_row(
    image: str, model_archive: Path, trained_model: Any, tmp_path: Path
) -> None:
    rows = iris_rows(100_000)
    write_rows(tmp_path / "in" / "rows.csv", rows)
    done = byoc(
        "--image", image, "--model-data", str(model_archive), "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "out"), *CSV, "--instances", "2", "--max-payload", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "100,000 records in" in done.stderr and "on 2 instance(s)" in done.stderr
    table = np.loadtxt(io.BytesIO((tmp_path / "out" / "rows.csv.out").read_bytes()), delimiter=",")
    assert table.shape == (100_000, 4)
    assert (table[:, 0].astype(int) == trained_model.predict(rows)).all()
    np.testing.assert_allclose(table[:, 1:], trained_model.predict_proba(rows), rtol=1e-6)
    assert no_containers_left()


def test_a_bad_record_names_file_line_and_error(image: str, model_archive: Path, tmp_path: Path) -> None:
    write_rows(tmp_path / "in" / "good.csv", iris_rows(10))
    (tmp_path / "in" / "bad.csv").write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n6.0,two,4.5,1.5\n")
    done = byoc(
        "--image", image, "--model-data", str(model_archive), "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "out"), *CSV,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        "FAILED bad.csv, line 3, in the request of lines 1-3 (3 records): the container answered 400: "
        "CSV: row 3, column 2: 'two' is not a number (code invalid_value) (no bad.csv.out written)"
    ) in done.stderr, done.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "byoc-transform-failures.jsonl",
        "good.csv.out",
    ]
    assert no_containers_left()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], {"SAGEMAKER_BATCH": "true", "CUSTOM": "1"}),
        (
            ["--strategy", "SingleRecord", "--max-payload", "2", "--max-concurrent", "3"],
            {
                "SAGEMAKER_BATCH": "true",
                "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2",
                "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD",
                "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3",
                "CUSTOM": "1",
            },
        ),
    ],
    ids=["defaults", "set-by-the-job"],
)
def test_what_the_container_sees(image: str, tmp_path: Path, flags: list[str], expected: dict) -> None:
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text(ENV_CODE)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "rows.csv").write_text("1,2\n3,4\n")
    done = byoc(
        "--image", image, "--model-data", str(model), "--input", str(tmp_path / "in"), "--output",
        str(tmp_path / "out"), "--content-type", "text/csv", "--accept", "application/json",
        "--split-type", "Line", "--env", "CUSTOM=1", *flags,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in (tmp_path / "out" / "rows.csv.out").read_text().splitlines()]
    assert all(
        answer["content_type"] == "text/csv" and answer["accept"] == "application/json" for answer in answers
    )
    assert {key: value for key, value in answers[0]["env"].items() if value is not None} == expected
    assert [answer["records"] for answer in answers] == ([1, 1] if "SingleRecord" in flags else [2])


def test_max_payload_zero_streams_through_the_image(
    image: str, model_archive: Path, trained_model: Any, tmp_path: Path
) -> None:
    rows = iris_rows(50_000)
    write_rows(tmp_path / "in" / "rows.csv", rows)
    done = byoc(
        "--image", image, "--model-data", str(model_archive), "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "out"), *CSV, "--max-payload", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "50,000 records in 1 request(s)" in done.stderr
    table = np.loadtxt(io.BytesIO((tmp_path / "out" / "rows.csv.out").read_bytes()), delimiter=",")
    assert (table[:, 0].astype(int) == trained_model.predict(rows)).all()
