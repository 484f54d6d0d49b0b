"""Workers that crash, hang or are stopped: what the clients see, counted.

Real servers on loopback with two workers (one for the hung call). Model code is held at gates
(files the test creates) so that each test decides the order of events; loads are bounded by a
request count, not a duration, and no test asserts a duration.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from server_helpers import (
    CSV_ROWS,
    GATE_HELPERS,
    HTTP_TIMEOUT,
    Gates,
    client,
    make_model_dir,
    serving,
    wait_until,
    worker_pids,
)

pytestmark = pytest.mark.integration

# A model each worker loads itself (no preload), held at the "load" gate while the HOLD_LOADS file
# exists; predict_fn holds a row starting with 999 at the "hold" gate.
GATED_MODULE = (
    GATE_HELPERS
    + """
import joblib

BYOC_HANDLER_OPTIONS = {"batchable": False}


def model_fn(model_dir):
    if _os.path.exists(_os.path.join(_os.environ["TEST_GATES"], "HOLD_LOADS")):
        _gate("load", limit=120)
    return joblib.load(_os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    if float(data[0][0]) == 999:
        _gate("hold", limit=120)
    return model.predict(data)
"""
)


def post(url: str, body: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        return http.post(f"{url}/invocations", content=body, headers={"Content-Type": "text/csv"})


def ping_fresh(url: str) -> int:
    """/ping on a new connection each time, as a health checker does: any worker may answer."""
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        return http.get(f"{url}/ping", headers={"Connection": "close"}).status_code


@pytest.fixture
def gates(tmp_path: Path) -> Gates:
    return Gates(tmp_path / "gates")


@pytest.fixture
def model_dir(tmp_path: Path, model_file: Path) -> Path:
    return make_model_dir(tmp_path, model_file, {"inference.py": GATED_MODULE})


def test_ping_stays_200_while_a_crashed_workers_replacement_loads(gates: Gates, model_dir: Path) -> None:
    """A worker killed with SIGKILL is replaced by one that loads the model itself; meanwhile the
    other worker serves, so /ping (whichever worker answers it) says 200, not 503."""
    with serving(model_dir, env=gates.env, workers=2) as server:
        master = server.process.pid  # type: ignore[union-attr]
        # /ping is 200 once one worker is ready: wait for both, so one stays ready after the kill.
        wait_until(
            lambda: server.log_text().count("worker ready: model loaded by this worker") == 2, "two workers"
        )
        first, _ = sorted(worker_pids(master))
        (gates.directory / "HOLD_LOADS").touch()
        os.kill(first, signal.SIGKILL)
        gates.wait_started("load")  # the replacement is loading, held at the gate
        try:
            statuses = [ping_fresh(server.url) for _ in range(30)]
            assert statuses == [200] * 30, server.log_tail()
            assert len(gates.done("load")) == 0  # still loading all along
        finally:
            gates.open("load")
        assert post(server.url, CSV_ROWS).status_code == 200


def test_one_hung_call_does_not_hold_up_the_other_requests_on_its_worker(
    gates: Gates, model_dir: Path
) -> None:
    """With one worker and the default 60 s deadline, a call that hangs holds up the requests queued
    behind it only until it is taken for hung (seconds): they are answered while it still hangs."""
    with serving(model_dir, env=gates.env, workers=1) as server, ThreadPoolExecutor(4) as pool:
        hung = pool.submit(post, server.url, "999,1,1,1\n")
        gates.wait_started("hold")
        others = [pool.submit(post, server.url, CSV_ROWS) for _ in range(3)]
        try:
            assert [f.result().status_code for f in others] == [200, 200, 200]
            assert not gates.done("hold") and not hung.done()
            assert "while other requests wait" in server.log_text()
        finally:
            gates.open("hold")
        assert hung.result().status_code == 200


def test_sigterm_loses_no_request_in_flight(gates: Gates, model_dir: Path) -> None:
    """Eight requests are inside the workers (held in predict_fn) when SIGTERM arrives: every one
    is answered 200 before the server exits, cleanly."""
    with serving(model_dir, env=gates.env, workers=2) as server, ThreadPoolExecutor(8) as pool:
        held = [pool.submit(post, server.url, "999,1,1,1\n") for _ in range(8)]
        # Each worker runs one call at a time: two are at the gate, the other six queued behind.
        gates.wait_started("hold", count=2)
        wait_until(lambda: in_flight(server.url) >= 8, "all eight requests to be in flight")
        os.kill(server.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
        gates.open("hold")
        statuses = [f.result().status_code for f in held]
        assert statuses == [200] * 8  # lost: 0
        assert server.wait_for_exit(timeout=60) == 0


def in_flight(url: str) -> float:
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http:
        text = http.get(f"{url}/metrics").text
    values = [
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("byoc_invocations_in_flight")
    ]
    return sum(values)


def test_kill_9_of_a_worker_under_load_loses_at_most_one_percent(tmp_path: Path, model_file: Path) -> None:
    """Four clients send 400 requests each; a quarter of the way in, one of the two workers is
    killed with SIGKILL. At most 1% of the 1,600 requests may fail (those it held at that moment),
    and every other one is answered 200 with its own rows' predictions."""
    model_dir = make_model_dir(tmp_path, model_file)
    per_client, clients = 400, 4
    with serving(model_dir, workers=2) as server:
        master = server.process.pid  # type: ignore[union-attr]
        victim = min(worker_pids(master))
        sent = threading.Semaphore(0)
        killed = threading.Event()

        def load(index: int) -> tuple[int, int]:
            ok = failed = 0
            with client(server) as http:
                for n in range(per_client):
                    body = "5.1,3.5,1.4,0.2\n" if (index + n) % 2 else "6.7,3.0,5.2,2.3\n"
                    try:
                        response = http.post(
                            "/invocations", content=body, headers={"Content-Type": "text/csv"}
                        )
                        expected = [0] if body.startswith("5.1") else [2]
                        if response.status_code == 200 and response.json()["predictions"] == expected:
                            ok += 1
                        else:
                            failed += 1
                    except httpx.TransportError:
                        failed += 1
                    sent.release()
            return ok, failed

        with ThreadPoolExecutor(clients) as pool:
            results = [pool.submit(load, i) for i in range(clients)]
            for _ in range(per_client * clients // 4):
                sent.acquire()
            os.kill(victim, signal.SIGKILL)
            killed.set()
            totals = [f.result() for f in results]
        ok = sum(t[0] for t in totals)
        failed = sum(t[1] for t in totals)
        assert ok + failed == per_client * clients
        assert failed <= per_client * clients // 100, f"{failed} of {ok + failed} requests failed"
        wait_until(
            lambda: len(worker_pids(master)) == 2 and victim not in worker_pids(master), "a new worker"
        )
        assert ping_fresh(server.url) == 200
