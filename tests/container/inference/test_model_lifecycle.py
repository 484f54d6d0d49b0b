"""Model loading behind an honest /ping, load failures, and faults in model code at request time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from server_helpers import (
    CSV_ROWS,
    GATE_HELPERS,
    Gates,
    client,
    error_body,
    make_model_dir,
    serving,
    wait_until,
)

from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration

SLOW_LOADER = (
    GATE_HELPERS
    + """
import joblib


def model_fn(model_dir):
    _gate("model_fn")
    return joblib.load(_os.path.join(model_dir, "model.joblib"))


def model_warmup_fn(model_dir, model):
    _gate("warmup")
    model.predict([[5.1, 3.5, 1.4, 0.2]])
"""
)

FAILING_LOADER = """
def model_fn(model_dir):
    raise RuntimeError("cannot open /secret/weights.bin with token s3cr3t")
"""

EXITING_LOADER = """
import sys


def model_fn(model_dir):
    sys.exit(3)  # what argparse does on a bad argument; 3 is also gunicorn's "worker failed to boot"
"""

FAULTY_PREDICT = """
import sys


class Unserialisable:
    pass


def predict_fn(data, model):
    first = float(data[0][0])
    if first < 0:
        raise RuntimeError("secret-detail-42 in /home/someone/model.py")
    if first > 100:
        return {"predictions": [Unserialisable()]}
    if first == 77:
        sys.exit(2)
    return model.predict(data)
"""


def test_ping_is_503_while_the_model_loads_and_warms_up(tmp_path: Path, model_file: Path) -> None:
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": SLOW_LOADER})
    env = {**gates.env, "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}
    with serving(model_dir, env=env, ready=False) as server, client(server) as http:
        gates.wait_started("model_fn")
        for _ in range(3):  # not a one-off: it stays 503 for as long as model_fn runs
            body = error_body(http.get("/ping"), 503, "model_loading")
            assert body["state"] == "loading"
            assert "loading" in body["message"]
        # A request waits for the load up to its deadline, then gets the 503 with the reason.
        body = error_body(
            http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"}), 503
        )
        assert body["state"] == "loading"

        gates.open("model_fn")
        gates.wait_started("warmup")
        # model_fn returned, but the warm-up is still running: not ready yet.
        body = error_body(http.get("/ping"), 503, "model_loading")
        assert body["state"] == "loading"
        assert not gates.done("warmup")

        gates.open("warmup")
        server.wait_until_ready(timeout=30)
        response = http.get("/ping")
        assert response.status_code == 200 and response.content == b""
        assert gates.done("model_fn") and gates.done("warmup")
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        assert response.json()["predictions"] == [0, 2]


def test_a_request_sent_during_the_load_waits_for_it_and_succeeds(tmp_path: Path, model_file: Path) -> None:
    # With several workers, one may answer /ping with 200 while another still loads: a request that
    # reaches the loading one must not fail for it.
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": SLOW_LOADER})
    with serving(model_dir, env=gates.env, ready=False) as server, client(server) as http:
        gates.wait_started("model_fn")
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                http.post, "/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"}
            )
            wait_until(lambda: "byoc_invocations_in_flight 1.0" in http.get("/metrics").text, "the request")
            assert not pending.done()
            gates.open("model_fn")
            gates.open("warmup")
            response = pending.result()
    assert response.status_code == 200
    assert response.json()["predictions"] == [0, 2]


def test_a_failed_load_keeps_the_server_up_and_ping_says_why(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": FAILING_LOADER})
    with serving(model_dir, ready=False) as server, client(server) as http:
        wait_until(lambda: "failed to load" in server.log_text(), "the load failure in the log")
        for _ in range(3):
            body = error_body(http.get("/ping"), 503, "model_not_ready")
            assert body["state"] == "failed"
            assert "failed to load" in body["message"]
            assert "RuntimeError" in body["message"]
            # The exception's text may hold paths and secrets: the log has it, the body does not.
            assert "/secret" not in body["message"] and "s3cr3t" not in body["message"]
        body = error_body(
            http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"}), 503
        )
        assert body["state"] == "failed"
        assert "s3cr3t" not in json.dumps(body)
        assert server.process is not None and server.process.poll() is None  # still serving 503s
        log = server.log_text()
        assert "Traceback" in log and "s3cr3t" in log


def test_sys_exit_in_model_fn_is_a_failed_load_not_a_dead_server(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": EXITING_LOADER})
    with serving(model_dir, ready=False) as server, client(server) as http:
        wait_until(lambda: "failed to load" in server.log_text(), "the load failure in the log")
        body = error_body(http.get("/ping"), 503, "model_not_ready")
        assert body["state"] == "failed"
        assert "model_fn raised SystemExit" in body["message"]
        assert server.process is not None and server.process.poll() is None
        # The worker was not restarted over and over: it stays up, failed, and says so.
        assert server.log_text().count("Booting worker") == 1
        error_body(http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"}), 503)


def test_a_load_failure_the_handler_explains_is_passed_on(tmp_path: Path) -> None:
    # No model file: the scikit-learn handler raises an InferenceError written for the operator.
    model_dir = make_model_dir(tmp_path, None)
    (model_dir / "notes.txt").write_text("no model here")
    with serving(model_dir, ready=False) as server, client(server) as http:
        wait_until(lambda: "failed to load" in server.log_text(), "the load failure in the log")
        body = error_body(http.get("/ping"), 503, "model_not_ready")
        assert body["state"] == "failed"
        assert "no model file" in body["message"] and "notes.txt" in body["message"]


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    model_dir = make_model_dir(
        tmp_path_factory.mktemp("faulty"), model_file, {"inference.py": FAULTY_PREDICT}
    )
    with serving(model_dir) as running:
        yield running


@pytest.fixture(scope="module")
def faulty_http(faulty_server: ServerProcess) -> Iterator[httpx.Client]:
    with client(faulty_server) as session:
        yield session


def test_a_fault_in_predict_fn_is_a_500_without_its_text(
    faulty_server: ServerProcess, faulty_http: httpx.Client
) -> None:
    response = faulty_http.post("/invocations", content="-1,2,3,4\n", headers={"Content-Type": "text/csv"})
    body = error_body(response, 500, "predict_failed")
    request_id = response.headers["x-request-id"]
    assert request_id in body["message"]
    assert "secret-detail-42" not in response.text and "RuntimeError" not in response.text

    def logged() -> bool:
        log = faulty_server.log_text()
        return "secret-detail-42" in log and request_id in log

    wait_until(logged, "the fault in the server log")
    log = faulty_server.log_text()
    # The traceback is logged under the request's id.
    entry = log[log.index(f"request {request_id} failed") :]
    assert "Traceback (most recent call last)" in entry
    assert "RuntimeError: secret-detail-42" in entry


def test_a_fault_in_encoding_is_a_500(faulty_http: httpx.Client) -> None:
    response = faulty_http.post("/invocations", content="101,2,3,4\n", headers={"Content-Type": "text/csv"})
    body = error_body(response, 500, "encode_failed")
    assert response.headers["x-request-id"] in body["message"]


def test_sys_exit_in_predict_fn_is_a_json_500(faulty_http: httpx.Client) -> None:
    response = faulty_http.post("/invocations", content="77,2,3,4\n", headers={"Content-Type": "text/csv"})
    body = error_body(response, 500, "predict_failed")
    assert response.headers["x-request-id"] in body["message"]


def test_the_worker_keeps_serving_after_faults(
    faulty_server: ServerProcess, faulty_http: httpx.Client
) -> None:
    response = faulty_http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.json() == [0, 2]
    assert faulty_http.get("/ping").status_code == 200
    assert faulty_server.log_text().count("Booting worker") == 1  # the same worker throughout
