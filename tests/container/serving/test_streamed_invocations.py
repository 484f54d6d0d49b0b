"""SAGEMAKER_MAX_PAYLOAD_IN_MB=0 on the real server: no cap, chunked bodies, bounded memory.

Contract: SageMaker API reference, CreateTransformJob.MaxPayloadInMB: "For cases where the payload
might be arbitrarily large and is transmitted using HTTP chunked encoding, set the value to 0";
the container learns it from SAGEMAKER_MAX_PAYLOAD_IN_MB ("Use Your Own Inference Code with Batch
Transform", https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html) and
/execution-parameters reports it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from server_helpers import client, error_body, make_model_dir, serving, worker_pids
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression

from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
STREAM_ENV = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "SAGEMAKER_BATCH": "true"}
CSV_IN_OUT = {"Content-Type": "text/csv", "Accept": "text/csv"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    model_dir = make_model_dir(tmp_path_factory.mktemp("streamed"), model_file)
    with serving(model_dir, env=STREAM_ENV, workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server) as session:
        session.timeout = httpx.Timeout(300.0)
        yield session


def iris_like(count: int, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    # Rounded as csv_bytes writes them, so that the model sees exactly these numbers.
    return generator.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(count, 4)).round(6)


def csv_bytes(rows: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savetxt(buffer, rows, fmt="%.6f", delimiter=",")
    return buffer.getvalue()


def chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_execution_parameters_say_zero(http: httpx.Client) -> None:
    assert http.get("/execution-parameters").json()["MaxPayloadInMB"] == 0


def test_a_chunked_csv_body_is_answered_row_by_row(http: httpx.Client, trained_model: Any) -> None:
    rows = iris_like(100_000)
    response = http.post("/invocations", content=chunks(csv_bytes(rows)), headers=CSV_IN_OUT)
    assert response.status_code == 200, response.text[:500]
    assert int(response.headers["content-length"]) == len(response.content)
    answer = np.loadtxt(io.BytesIO(response.content), delimiter=",")
    assert answer.shape == (100_000, 4)
    assert (answer[:, 0].astype(int) == trained_model.predict(rows)).all()
    np.testing.assert_allclose(answer[:, 1:], trained_model.predict_proba(rows), rtol=1e-6)


def test_memory_stays_bounded_whatever_the_body_size(tmp_path: Path) -> None:
    # A regressor (one number per row) keeps the answer cheap to write; what is measured is the
    # runtime. The first request pays the one-time costs (imports, thread and allocator arenas).
    features, target = load_iris(return_X_y=True)
    model_file = tmp_path / "regressor.joblib"
    joblib.dump(LinearRegression().fit(features, target), model_file)
    model_dir = make_model_dir(tmp_path, model_file)
    with serving(model_dir, env=STREAM_ENV, workers=1) as server, client(server) as session:
        session.timeout = httpx.Timeout(300.0)
        assert server.process is not None
        (worker,) = worker_pids(server.process.pid)
        warm_up = session.post(
            "/invocations", content=chunks(csv_bytes(iris_like(100_000))), headers=CSV_IN_OUT
        )
        assert warm_up.status_code == 200, warm_up.text[:300]
        before = peak_memory_kib(worker)
        body = csv_bytes(iris_like(800_000, seed=2))
        response = session.post("/invocations", content=chunks(body), headers=CSV_IN_OUT)
        assert response.status_code == 200, response.text[:300]
        assert response.content.count(b"\n") == 800_000
        grown_mib = (peak_memory_kib(worker) - before) / 1024
    # Held whole, the body alone would be 27 MiB (and its text and float array as much again).
    assert len(body) > 27 * MIB
    assert grown_mib < 20, (
        f"the worker's peak memory grew by {grown_mib:.0f} MiB for a {len(body) / MIB:.0f} MiB body"
    )


def test_a_bad_row_deep_in_the_body_is_a_400_naming_it(http: httpx.Client) -> None:
    lines = csv_bytes(iris_like(60_000)).split(b"\n")
    lines[50_000] = b"5.1,3.5,oops,0.2"
    response = http.post(
        "/invocations",
        content=chunks(b"\n".join(lines)),
        headers=CSV_IN_OUT,
    )
    body = error_body(response, 400, "invalid_value")
    assert body["message"] == "CSV: row 50001, column 3: 'oops' is not a number"
    assert body["row"] == 50_001


def test_a_row_of_another_width_later_in_the_body(http: httpx.Client) -> None:
    lines = csv_bytes(iris_like(60_000)).split(b"\n")
    lines[50_000] += b",1.0"
    response = http.post("/invocations", content=b"\n".join(lines), headers=CSV_IN_OUT)
    body = error_body(response, 400)
    assert "row 50001" in body["message"], body


def test_json_lines_streamed(http: httpx.Client, trained_model: Any) -> None:
    rows = iris_like(60_000, seed=1)
    body = b"".join(b"[%.6f,%.6f,%.6f,%.6f]\n" % tuple(row) for row in rows)
    response = http.post(
        "/invocations",
        content=chunks(body),
        headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
    )
    assert response.status_code == 200, response.text[:300]
    lines = response.content.splitlines()
    assert len(lines) == 60_000
    assert [int(line.split(b",")[0].split(b":")[1]) for line in lines[:5]] == trained_model.predict(
        rows[:5]
    ).tolist()


def test_other_types_are_read_whole_without_a_cap(http: httpx.Client) -> None:
    # A JSON document cannot be cut into lines: it is read whole, and no limit refuses it.
    rows = iris_like(300_000).round(3).tolist()
    body = httpx.Request("POST", "/", json={"instances": rows}).read()
    assert len(body) > 6 * MIB
    response = http.post("/invocations", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 300_000


def test_an_empty_body(http: httpx.Client) -> None:
    response = http.post("/invocations", content=b"", headers=CSV_IN_OUT)
    error_body(response, 400, "empty_body")
    response = http.post("/invocations", content=b"\n\n", headers=CSV_IN_OUT)
    error_body(response, 400, "empty_input")
