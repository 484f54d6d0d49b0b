"""Slow model code: the request deadline (504), /ping while predictions are in flight, and SIGTERM.

No test here asserts a wall-clock bound: model code is held at a gate (a file the test creates), so
each test decides the order of events itself and asserts that order.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from server_helpers import (
    CSV_ROWS,
    GATE_HELPERS,
    HTTP_TIMEOUT,
    Gates,
    client,
    error_body,
    make_model_dir,
    serving,
    wait_until,
    worker_pids,
)

from container.inference.runner import MAX_STUCK_THREADS

pytestmark = pytest.mark.integration

# predict_fn waits at the "hold" gate when the first value of the first row is 999.
HELD_PREDICT = (
    GATE_HELPERS
    + """

def predict_fn(data, model):
    if float(data[0][0]) == 999:
        _gate("hold")
        return [-1]
    return model.predict(data)
"""
)

# Every call waits at the "hold" gate.
ALWAYS_HELD_PREDICT = (
    GATE_HELPERS
    + """

def predict_fn(data, model):
    _gate("hold")
    return {"predictions": model.predict(data).tolist(), "pid": _os.getpid()}
"""
)


def post_csv(url: str, body: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        return http.post(f"{url}/invocations", content=body, headers={"Content-Type": "text/csv"})


def test_a_request_over_the_deadline_is_a_504_and_the_worker_keeps_serving(
    tmp_path: Path, model_file: Path
) -> None:
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": HELD_PREDICT})
    env = {**gates.env, "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}
    with serving(model_dir, env=env, workers=1) as server, client(server) as http:
        try:
            response = http.post("/invocations", content="999,1,1,1\n", headers={"Content-Type": "text/csv"})
            body = error_body(response, 504, "timeout")
            assert "SAGEMAKER_MODEL_SERVER_TIMEOUT" in body["message"]
            assert response.headers["x-request-id"]
            assert len(gates.started("hold")) == 1 and not gates.done("hold")

            # The stuck call still holds the old model thread; the next request gets a fresh one.
            response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
            assert response.status_code == 200, response.text
            assert response.json() == [0, 2]
            assert not gates.done("hold"), "the stuck call finished first: this proved nothing"
            assert http.get("/ping").status_code == 200
            assert "overran its deadline" in server.log_text()
        finally:
            gates.open("hold")
        # The abandoned call ends on its own; its late result goes nowhere and breaks nothing.
        wait_until(lambda: gates.done("hold"), "the abandoned call to finish")
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        assert server.process is not None and server.process.poll() is None


def test_ping_answers_while_predictions_are_in_flight(tmp_path: Path, model_file: Path) -> None:
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": ALWAYS_HELD_PREDICT})
    in_flight = 8
    with (
        serving(model_dir, env=gates.env, workers=1) as server,
        client(server) as http,
        ThreadPoolExecutor(max_workers=in_flight) as pool,
    ):
        futures: list[Future[httpx.Response]] = []
        try:
            futures = [pool.submit(post_csv, server.url, CSV_ROWS) for _ in range(in_flight)]
            # One call is in predict_fn (one model thread per worker), the others queue behind it.
            gates.wait_started("hold")
            pings = []
            for _ in range(5):
                response = http.get("/ping")
                pings.append(response.status_code)
                # Ordering, not timing: each ping came back while every prediction was still held.
                assert not any(f.done() for f in futures), [f.result() for f in futures if f.done()]
            assert pings == [200] * 5
            assert len(gates.started("hold")) == 1  # one worker, one model thread: the rest queued
        finally:
            gates.open("hold")
        responses = [f.result(timeout=HTTP_TIMEOUT) for f in futures]
    assert [r.status_code for r in responses] == [200] * in_flight
    assert all(r.json()["predictions"] == [0, 2] for r in responses)


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(tmp_path: Path, model_file: Path) -> None:
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": HELD_PREDICT})
    with serving(model_dir, env=gates.env, workers=1) as server:
        result: list[httpx.Response | BaseException] = []

        def call() -> None:
            try:
                result.append(post_csv(server.url, "999,1,1,1\n"))
            except BaseException as exc:  # reported by the assertions below
                result.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        try:
            gates.wait_started("hold")
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            # Shutting down: no new connections are accepted, the one in flight is kept.
            wait_until(lambda: "Handling signal: term" in server.log_text(), "the master to get SIGTERM")
            wait_until(lambda: server.ping()[0] is None, "the listening socket to close")
            assert server.process.poll() is None, "exited with a request in flight"
            assert not result
        finally:
            gates.open("hold")
        caller.join(HTTP_TIMEOUT)
        # Within SageMaker's 30 s between SIGTERM and SIGKILL; stop() would SIGKILL after 28 s.
        status = server.stop(timeout=28)
        assert result and isinstance(result[0], httpx.Response), result
        assert result[0].status_code == 200
        assert result[0].json() == [-1]
        assert status == 0, server.log_tail()


def test_a_worker_with_too_many_stuck_calls_is_replaced(tmp_path: Path, model_file: Path) -> None:
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": HELD_PREDICT})
    env = {**gates.env, "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}
    with serving(model_dir, env=env, workers=1) as server, client(server) as http:
        assert server.process is not None
        (first_worker,) = worker_pids(server.process.pid)
        try:
            # container.inference.runner.MAX_STUCK_THREADS abandoned model threads, each still stuck.
            for count in range(1, MAX_STUCK_THREADS + 1):
                response = http.post(
                    "/invocations", content="999,1,1,1\n", headers={"Content-Type": "text/csv"}
                )
                error_body(response, 504, "timeout")
                gates.wait_started("hold", count)
            assert not gates.done("hold")
            wait_until(lambda: "restarting it" in server.log_text(), "the worker to ask for its restart")

            def replaced() -> bool:
                workers = worker_pids(server.process.pid)  # type: ignore[union-attr]
                return bool(workers) and first_worker not in workers and server.ping()[0] == 200

            wait_until(replaced, "a fresh worker to take over")
        finally:
            gates.open("hold")
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        assert response.json() == [0, 2]


def test_sigterm_while_the_model_loads_exits_0(tmp_path: Path, model_file: Path) -> None:
    gates = Gates(tmp_path / "gates")
    source = GATE_HELPERS + '\n\ndef model_fn(model_dir):\n    _gate("load")\n    return None\n'
    model_dir = make_model_dir(tmp_path, model_file, {"inference.py": source})
    with serving(model_dir, env=gates.env, ready=False) as server:
        try:
            gates.wait_started("load")
            assert server.ping()[0] == 503
            # model_fn is stuck (it will not finish: its gate stays closed until after the exit).
            status = server.stop(timeout=28)
            assert status == 0, server.log_tail()
            assert not gates.done("load")
        finally:
            gates.open("load")
