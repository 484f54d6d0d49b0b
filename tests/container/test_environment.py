"""SAGEMAKER_* settings as the real server reads them: limits, port, workers, log level, bad values."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import (
    CSV_ROWS,
    EXIT_TIMEOUT,
    HTTP_TIMEOUT,
    access_lines,
    client,
    error_body,
    make_model_dir,
    run_until_exit,
    serving,
    wait_until,
    worker_pids,
)

from container.serving.server_process import ServerProcess, free_port

pytestmark = pytest.mark.integration
MIB = 1024 * 1024

LIMITS_ENV = {
    "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
    "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3",
    "SAGEMAKER_BATCH_STRATEGY": "single_record",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("env"), model_file)


@pytest.fixture(scope="module")
def limits_server(model_dir: Path) -> Iterator[ServerProcess]:
    """Two workers, a 1 MiB payload limit, batch settings, CSV as the default response type."""
    with serving(model_dir, env=LIMITS_ENV, workers=2, port=free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def http(limits_server: ServerProcess) -> Iterator[httpx.Client]:
    with client(limits_server) as session:
        yield session


def test_execution_parameters_follow_the_environment(http: httpx.Client) -> None:
    response = http.get("/execution-parameters")
    assert response.status_code == 200
    assert response.json() == {
        "MaxConcurrentTransforms": 3,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 1,
    }


def test_listens_on_sagemaker_bind_to_port(limits_server: ServerProcess) -> None:
    assert limits_server.env["SAGEMAKER_BIND_TO_PORT"] == str(limits_server.port)
    assert f"serving on port {limits_server.port}" in limits_server.log_text()
    assert f"Listening at: http://127.0.0.1:{limits_server.port}" in limits_server.log_text()
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        assert http.get(f"http://127.0.0.1:{limits_server.port}/ping").status_code == 200


def test_model_server_workers_starts_that_many_workers(limits_server: ServerProcess) -> None:
    assert limits_server.process is not None
    master = limits_server.process.pid
    wait_until(lambda: len(worker_pids(master)) == 2, "two worker processes")
    # The sklearn handler allows preloading: the model is loaded once, by the main process, and
    # each worker reports ready with it.
    wait_until(lambda: limits_server.log_text().count("worker ready") == 2, "both workers to be ready")
    assert limits_server.log_text().count("model loaded in") == 1
    assert limits_server.log_text().count("model loaded once by the main process") == 2
    log = limits_server.log_text()
    assert log.count("Booting worker with pid") == 2
    assert "with 2 worker(s)" in log
    # The two processes that booted are the two alive now, none replaced since.
    booted = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log)}
    assert worker_pids(master) == booted


def test_default_invocations_accept(http: httpx.Client) -> None:
    for accept in (None, "*/*"):
        headers = {"Content-Type": "text/csv", **({"Accept": accept} if accept else {})}
        response = http.post("/invocations", content=CSV_ROWS, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert [line.split(",")[0] for line in response.text.splitlines()] == ["0", "2"]
    # An explicit Accept still wins over the default.
    response = http.post(
        "/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv", "Accept": "application/json"}
    )
    assert response.json()["predictions"] == [0, 2]


def _raw_exchange(port: int, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Send a request by hand and read until the server closes or answers; the raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(head)
        for chunk in body_chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server answered and closed before reading everything: that is allowed
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _body_of(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[2]


def test_413_when_content_length_is_over_the_limit_before_the_body_is_read(
    limits_server: ServerProcess,
) -> None:
    # Only the headers are sent: the answer must come without waiting for the 2 MiB body.
    head = (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
        b"Content-Length: %d\r\n\r\n" % (2 * MIB)
    )
    raw = _raw_exchange(limits_server.port, head, [])
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:200]
    assert b'"code":"payload_too_large"' in _body_of(raw)
    assert b"x-request-id" in raw.lower()


def test_413_for_a_body_over_the_limit(http: httpx.Client) -> None:
    body = error_body(
        http.post("/invocations", content=b"1" * (MIB + 1), headers={"Content-Type": "text/csv"}),
        413,
        "payload_too_large",
    )
    assert body["limit"] == MIB
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" in body["message"]


def test_413_for_a_chunked_body_over_the_limit(limits_server: ServerProcess) -> None:
    head = (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"5.1,3.5,1.4,0.2\n" * 4096  # 64 KiB
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 24 + [b"0\r\n\r\n"]  # 1.5 MiB in all
    raw = _raw_exchange(limits_server.port, head, chunks)
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:200]
    assert b'"code":"payload_too_large"' in _body_of(raw)


def test_a_body_of_exactly_the_limit_is_served(http: httpx.Client) -> None:
    row = b"5.1,3.5,1.4,0.2\n"
    payload = row * (MIB // len(row))
    assert len(payload) == MIB
    response = http.post(
        "/invocations", content=payload, headers={"Content-Type": "text/csv", "Accept": "application/x-npy"}
    )
    assert response.status_code == 200, response.text[:500]


def test_chunked_body_within_the_limit_is_served(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for line in CSV_ROWS.splitlines(keepends=True):
            yield line.encode()

    response = http.post("/invocations", content=chunks(), headers={"Content-Type": "text/csv"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 200, response.text


# --- log level --------------------------------------------------------------------------------


def test_log_level_40_silences_info_lines(model_dir: Path) -> None:
    with serving(model_dir, env={"SAGEMAKER_CONTAINER_LOG_LEVEL": "40"}) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        bad = http.post("/invocations", content="1,2\n", headers={"Content-Type": "text/csv"})
        assert bad.status_code == 400
        log = server.log_text()
    assert "INFO" not in log, log
    assert "model loaded" not in log


def test_log_level_by_name_and_ping_lines_when_asked_for(model_dir: Path) -> None:
    env = {"SAGEMAKER_CONTAINER_LOG_LEVEL": "info", "BYOC_ACCESS_LOG_PINGS": "true"}
    with serving(model_dir, env=env) as server, client(server) as http:
        assert "INFO" in server.log_text()
        assert "model loaded" in server.log_text()
        # BYOC_ACCESS_LOG_PINGS: /ping gets access-log lines too (it has none by default).
        before = len([x for x in access_lines(server) if x["path"] == "/ping"])
        assert http.get("/ping").status_code == 200
        pings = wait_until(
            lambda: [x for x in access_lines(server) if x["path"] == "/ping"][before:],
            "an access-log line for /ping",
        )
        assert pings[0]["status"] == 200 and pings[0]["method"] == "GET"


# --- invalid settings stop the server at start ------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "abc"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0"),
        ("SAGEMAKER_BIND_TO_PORT", "70000"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "soon"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "0"),
        ("SAGEMAKER_CONTAINER_LOG_LEVEL", "LOUD"),
        ("SAGEMAKER_BATCH_STRATEGY", "SOMETIMES"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "*/*"),
        ("SAGEMAKER_SUBMIT_DIRECTORY", "/nonexistent/code"),
    ],
)
def test_an_invalid_value_stops_the_server_naming_the_variable(
    model_dir: Path, variable: str, value: str
) -> None:
    status, output = run_until_exit(model_dir, env={variable: value})
    assert status != 0
    assert variable in output
    assert repr(value) in output or value in output
    assert "Traceback" not in output  # a message, not a crash
    assert "Listening at" not in output


# --- `serve train`: the training contract (tests/container/training) ------------------------------


def test_serve_train_runs_the_training_contract(tmp_path: Path) -> None:
    # An image whose command is `serve` gets `serve train` from a training job: it trains (here a job
    # with no entry point, which fails saying so in its failure file).
    result = subprocess.run(
        [sys.executable, "-m", "container.serving.server", "train"],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        env={**os.environ, "SAGEMAKER_BASE_DIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 1
    assert (tmp_path / "output" / "failure").read_text().startswith("no entry point")


def test_serve_with_unknown_arguments_refuses(model_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "container.serving.server", "serve", "--now"],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        env={**os.environ, "BYOC_MODEL_DIR": str(model_dir)},
        check=False,
    )
    assert result.returncode != 0
    assert "usage" in result.stderr


def test_serve_help_describes_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "container.serving.server", "--help"],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: serve")
    assert "/ping answers 200 once the model is loaded" in " ".join(result.stdout.split())
