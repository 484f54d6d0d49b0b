"""The image serving the sample model the way SageMaker runs it: every sample payload, its answer.

One container serves all of these tests (the environment is the same): the sample model.tar.gz
extracted by the image's `byoc extract`, mounted at /opt/ml/model, started as `docker run IMAGE
serve` with SAGEMAKER_BIND_TO_PORT on a free port and SAGEMAKER_MODEL_SERVER_WORKERS=2.
"""

from __future__ import annotations

import json
import time

import pytest
from docker_helpers import PAYLOADS, Container, PayloadCase, docker, payload_cases, predictions_from

pytestmark = pytest.mark.docker

CASES = payload_cases()
MIB = 1024 * 1024


def test_the_payload_table_covers_every_sample_payload() -> None:
    documented = {case.payload for case in CASES}
    on_disk = {path.name for path in PAYLOADS.iterdir() if path.name != "README.md"}
    assert on_disk - documented == set(), "payloads without a documented answer in payloads/README.md"
    assert documented - on_disk == set(), "documented payloads that do not exist"
    assert {case.status for case in CASES} >= {200, 400, 406, 415}


def test_ping_is_ready(serving: Container) -> None:
    with serving.http() as http:
        response = http.get("/ping")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_sample_payload_gives_the_documented_answer(serving: Container, case: PayloadCase) -> None:
    headers = {"Content-Type": case.content_type}
    if case.accept:
        headers["Accept"] = case.accept
    with serving.http() as http:
        response = http.post("/invocations", content=(PAYLOADS / case.payload).read_bytes(), headers=headers)
    assert response.status_code == case.status, response.text
    assert response.headers.get("x-request-id")
    if case.status == 200:
        assert predictions_from(response) == [int(label) for label in case.answer.split()]
        if case.accept:
            assert response.headers["content-type"].split(";")[0] == case.accept
    else:
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["code"] == case.answer, body
        assert body["message"]


def test_body_over_the_payload_limit_is_413(serving: Container) -> None:
    body = b"5.1,3.5,1.4,0.2\n" * (6 * MIB // 16 + 1)  # just over the default 6 MiB
    with serving.http() as http:
        response = http.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_bind_to_port_and_worker_count_are_honoured(serving: Container) -> None:
    # The server listens on SAGEMAKER_BIND_TO_PORT (a free port) and on BYOC_BIND_HOST only.
    listening = [line for line in serving.log_tail(200).splitlines() if "Listening at:" in line]
    assert listening and listening[0].rstrip().split()[-2] == f"http://127.0.0.1:{serving.port}", listening
    with serving.http() as http:
        parameters = http.get("/execution-parameters").json()
    assert parameters["MaxConcurrentTransforms"] == 2
    processes = docker("top", serving.id, "-o", "pid,args").stdout.strip().splitlines()[1:]
    assert len(processes) == 3, f"expected the gunicorn arbiter and 2 workers: {processes}"


def test_access_log_lines_are_json_on_stdout(serving: Container) -> None:
    with serving.http() as http:
        ok = http.post("/invocations", content=b"5.1,3.5,1.4,0.2\n", headers={"Content-Type": "text/csv"})
        bad = http.post("/invocations", content=b"5.1,3.5\n", headers={"Content-Type": "text/csv"})
    wanted = {ok.headers["x-request-id"]: 200, bad.headers["x-request-id"]: 400}
    found: dict[str, dict] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(found) < len(wanted):
        stdout, _ = serving.logs()
        for line in stdout.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("request_id") in wanted:
                    found[record["request_id"]] = record
        time.sleep(0.2)
    assert set(found) == set(wanted), f"access-log lines missing from stdout:\n{serving.log_tail()}"
    for request_id, status in wanted.items():
        record = found[request_id]
        assert record["status"] == status
        assert record["method"] == "POST"
        assert record["path"] == "/invocations"
        assert record["total_ms"] >= record["model_ms"] >= 0
