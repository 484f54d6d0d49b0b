"""Model preloading, micro-batching and /metrics, on real server processes.

Model code is held at gates (files the test creates), so each test sets the order of events and
asserts on it; nothing here asserts a duration.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from server_helpers import (
    GATE_HELPERS,
    HTTP_TIMEOUT,
    Gates,
    client,
    error_body,
    make_model_dir,
    serving,
    wait_until,
)

pytestmark = pytest.mark.integration

# A batchable predict_fn: holds its first call at the "hold" gate so later requests queue up behind
# it, writes each call's row count to a file, answers each row with its own first value, and
# refuses a row whose first value is -1 (to show one bad request cannot fail its batch-mates).
BATCHING_MODULE = (
    GATE_HELPERS
    + """
import numpy as np
from container import BadRequest

BYOC_HANDLER_OPTIONS = {"batchable": True}
_calls = []


def model_fn(model_dir):
    return "echo"


def predict_fn(data, model):
    if not _calls:
        _gate("hold")
    _calls.append(len(data))
    with open(_os.path.join(_os.environ["TEST_GATES"], f"call.{_os.getpid()}.{len(_calls)}"), "w") as f:
        f.write(str(len(data)))
    if (data[:, 0] == -1).any():
        raise BadRequest("a row starts with -1")
    return {"predictions": data[:, 0], "width": data.shape[1]}
"""
)


def batch_sizes(gates: Gates) -> list[int]:
    calls = sorted(gates.directory.glob("call.*"), key=lambda p: int(p.name.split(".")[2]))
    return [int(path.read_text()) for path in calls]


def post(url: str, body: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        return http.post(f"{url}/invocations", content=body, headers={"Content-Type": "text/csv"})


def concurrent_posts(url: str, bodies: list[str], gates: Gates) -> list[httpx.Response]:
    """Send the first body, hold it in predict_fn, queue the rest behind it, then let all go."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        first = pool.submit(post, url, bodies[0])
        gates.wait_started("hold")
        rest = [pool.submit(post, url, body) for body in bodies[1:]]
        # All of them are in the server (their bytes read, waiting for the model thread) before the
        # gate opens: the in-flight gauge counts them.
        wait_until(lambda: _in_flight(url) >= len(bodies), "every request to be in flight")
        gates.open("hold")
        return [first.result(), *[f.result() for f in rest]]


def _in_flight(url: str) -> float:
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        text = http.get(f"{url}/metrics").text
    match = re.search(r"^byoc_invocations_in_flight (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_concurrent_requests_share_one_predict_call_and_get_their_own_rows(tmp_path):
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, None, {"inference.py": BATCHING_MODULE})
    with serving(model_dir, env=gates.env) as server:
        bodies = ["100,1\n"] + [f"{i},1\n" for i in range(8)] + ["7,1\n8,1\n"]
        responses = concurrent_posts(server.url, bodies, gates)
        log = server.log_text()
    assert [r.status_code for r in responses] == [200] * len(bodies)
    # Each request got exactly its own rows back.
    assert [r.json()["predictions"] for r in responses] == [
        [100.0],
        *[[float(i)] for i in range(8)],
        [7.0, 8.0],
    ]
    # The first call ran alone; the nine requests queued behind it ran as one call of ten rows.
    assert batch_sizes(gates) == [1, 10]
    assert "batching" in log


# The same predict_fn, with an input_fn that records which thread decoded each request: the model
# thread when the request went over whole (alone), the event loop's when it took the batch path.
RECORDING_MODULE = (
    BATCHING_MODULE
    + """
import threading
from container.codecs.decode import decode


def input_fn(body, content_type):
    first = body.split(",")[0]
    name = f"decoded.{_time.monotonic_ns()}.{first}.{threading.current_thread().name}"
    open(_os.path.join(_os.environ["TEST_GATES"], name), "w").close()
    return decode(body, content_type)
"""
)


def decoding_threads(gates: Gates) -> dict[str, list[str]]:
    """Which thread decoded each request, by the request's first value, in the order they came."""
    found: dict[str, list[str]] = {}
    for path in sorted(gates.directory.glob("decoded.*"), key=lambda p: int(p.name.split(".")[1])):
        _, _, first, thread = path.name.split(".", 3)
        found.setdefault(first, []).append(thread)
    return found


def test_a_lone_request_goes_over_whole_and_requests_in_company_take_the_batch_path(tmp_path):
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, None, {"inference.py": RECORDING_MODULE})
    with serving(model_dir, env=gates.env) as server:
        bodies = ["100,1\n"] + [f"{i},1\n" for i in range(5)]
        responses = concurrent_posts(server.url, bodies, gates)
        assert [r.status_code for r in responses] == [200] * len(bodies)
        # After a burst the worker keeps batching for a while; a quiet spell brings it back.
        quiet = [post(server.url, "200,1\n") for _ in range(12)]
        assert [r.json()["predictions"] for r in quiet] == [[200.0]] * 12
    threads = decoding_threads(gates)
    assert batch_sizes(gates)[:2] == [1, 5]  # alone, then the five in company together
    # The module's own input_fn runs on the model thread either way (its code may not be thread-safe,
    # and it keeps to the request's deadline); only the runtime's own codecs decode beside it.
    assert all(set(threads[str(i)]) == {"model"} for i in (100, 0, 1, 2, 3, 4, 200))


def test_a_bad_request_fails_alone_and_its_batch_mates_succeed(tmp_path):
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, None, {"inference.py": BATCHING_MODULE})
    with serving(model_dir, env=gates.env) as server:
        responses = concurrent_posts(server.url, ["100,1\n", "1,1\n", "-1,1\n", "2,1\n"], gates)
    assert [r.status_code for r in responses] == [200, 200, 400, 200]
    assert error_body(responses[2], 400, "invalid_input")["message"] == "a row starts with -1"
    assert [responses[i].json()["predictions"] for i in (1, 3)] == [[1.0], [2.0]]
    # The batch of three failed as a whole, then was halved until the culprit stood alone: a half of
    # one request, then either the other two together (the culprit was the one) or, known to hold
    # the culprit, each alone (the order in which the three arrived decides which).
    sizes = batch_sizes(gates)
    assert sizes[:2] == [1, 3]
    assert sizes[2:] in ([1, 2], [1, 1, 1])


def test_rows_of_different_widths_never_share_a_call(tmp_path):
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, None, {"inference.py": BATCHING_MODULE})
    with serving(model_dir, env=gates.env) as server:
        bodies = ["100,1\n", "1,1\n", "2,2,2\n", "3,3\n", "4,4,4\n"]
        responses = concurrent_posts(server.url, bodies, gates)
    assert [r.status_code for r in responses] == [200] * 5
    assert [r.json()["width"] for r in responses] == [2, 2, 3, 2, 3]
    assert sorted(batch_sizes(gates)) == [1, 2, 2]


def test_batching_can_be_turned_off(tmp_path):
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, None, {"inference.py": BATCHING_MODULE})
    with serving(model_dir, env={**gates.env, "BYOC_BATCHING": "off"}) as server:
        responses = concurrent_posts(server.url, ["100,1\n", "1,1\n", "2,1\n"], gates)
    assert [r.status_code for r in responses] == [200] * 3
    assert batch_sizes(gates) == [1, 1, 1]


# --- preloading -------------------------------------------------------------------------------

PRELOADED_MODULE = (
    GATE_HELPERS
    + """
BYOC_HANDLER_OPTIONS = {"preload": True}


def model_fn(model_dir):
    _gate("load")
    return {"loaded_by": _os.getpid()}


def predict_fn(data, model):
    return {"predictions": [model["loaded_by"]] * len(data), "worker": _os.getpid()}
"""
)


def test_a_preloaded_model_is_loaded_once_by_the_main_process_while_ping_says_so(tmp_path):
    gates = Gates(tmp_path / "gates")
    model_dir = make_model_dir(tmp_path, None, {"inference.py": PRELOADED_MODULE})
    with serving(model_dir, env=gates.env, workers=2, ready=False) as server:
        gates.wait_started("load")
        # While the main process loads, the port answers: 503 with the reason, for every route.
        with client(server) as http:
            body = error_body(http.get("/ping"), 503, "model_loading")
            assert body["state"] == "loading"
            error_body(http.post("/invocations", content="1,2\n", headers={"Content-Type": "text/csv"}), 503)
        gates.open("load")
        server.wait_until_ready(timeout=60)
        wait_until(lambda: server.log_text().count("worker ready") == 2, "both workers to be ready")
        with client(server) as http:
            answers = [
                http.post("/invocations", content="1,2\n", headers={"Content-Type": "text/csv"}).json()
                for _ in range(20)
            ]
        log = server.log_text()
    assert server.process is not None
    master = server.process.pid
    # Loaded once, in the main process; every worker serves that same model.
    assert len(gates.started("load")) == 1
    assert {answer["predictions"][0] for answer in answers} == {master}
    assert master not in {answer["worker"] for answer in answers}
    assert log.count("model loaded once by the main process") == 2


def test_a_preload_that_fails_keeps_the_server_up_and_ping_honest(tmp_path):
    module = (
        'BYOC_HANDLER_OPTIONS = {"preload": True}\n\ndef model_fn(model_dir):\n    raise OSError("disk")\n'
    )
    model_dir = make_model_dir(tmp_path, None, {"inference.py": module})
    with serving(model_dir, workers=2, ready=False) as server:
        wait_until(lambda: server.log_text().count("Booting worker") == 2, "the workers to start")
        with client(server) as http:
            body = error_body(http.get("/ping"), 503, "model_not_ready")
            assert body["state"] == "failed"
            assert "model_fn raised OSError" in body["message"]
            assert "disk" not in body["message"]  # exception text can hold secrets: log only
        assert server.process is not None and server.process.poll() is None
        assert "OSError: disk" in server.log_text()


# --- /metrics ---------------------------------------------------------------------------------


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics:\n{text}"
    return float(match.group(1))


def test_metrics_add_up_across_workers(tmp_path, model_file):
    model_dir = make_model_dir(tmp_path, model_file)
    with serving(model_dir, workers=2) as server:
        wait_until(lambda: server.log_text().count("worker ready") == 2, "both workers to be ready")
        with client(server) as http:
            for _ in range(30):
                assert http.post("/invocations", content="5.1,3.5,1.4,0.2\n",
                                 headers={"Content-Type": "text/csv"}).status_code == 200  # fmt: skip
            for _ in range(4):
                assert (
                    http.post(
                        "/invocations", content="1,2\n", headers={"Content-Type": "text/csv"}
                    ).status_code
                    == 400
                )
            assert (
                http.post("/invocations", content="{}", headers={"Content-Type": "image/png"}).status_code
                == 415
            )
            response = http.get("/metrics")
        pids = set(re.findall(r"Booting worker with pid: (\d+)", server.log_text()))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert len(pids) == 2
    assert metric(text, "byoc_invocations_total") == 35
    assert metric(text, "byoc_invocation_4xx_errors_total") == 5
    assert metric(text, "byoc_invocation_5xx_errors_total") == 0
    assert metric(text, "byoc_model_latency_seconds_count") == 30
    assert metric(text, "byoc_overhead_latency_seconds_count") == 35
    assert metric(text, "byoc_batch_size_count") == 34  # the 415 never reached predict_fn
    assert metric(text, "byoc_invocations_in_flight") == 0
    assert metric(text, "byoc_model_load_seconds") > 0
