"""The worker's ASGI app in this process (container.serving.app and .invocations): routes, statuses, bodies.

The same app, lifecycle and invoker a worker builds (tests/in_process.py), driven through httpx's
ASGI transport: no sockets, no gunicorn, so each case is fast and says exactly what it checks. The
real-server tests (tests/container/*/test_*serving*, test_environment...) cover what needs processes.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from types import ModuleType

import joblib
import numpy as np
import pytest
from in_process import in_process_server

from container import BadRequest

pytestmark = pytest.mark.anyio

ROW = "5.1,3.5,1.4,0.2"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def model_dir(tmp_path: Path, trained_model) -> Path:
    joblib.dump(trained_model, tmp_path / "model.joblib")
    return tmp_path


def user_module(name: str = "inference", **functions) -> ModuleType:
    module = ModuleType(name)
    for function_name, function in functions.items():
        setattr(module, function_name, function)
    return module


# --- /ping ------------------------------------------------------------------------------------


async def test_ping_is_200_with_no_body_once_the_model_is_ready(model_dir):
    async with in_process_server(model_dir) as server:
        response = await server.client.get("/ping")
    assert response.status_code == 200
    assert response.content == b""


async def test_ping_says_why_the_model_failed_to_load(tmp_path):
    async with in_process_server(tmp_path) as server:  # no model file at all
        response = await server.client.get("/ping")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "model_not_ready" and body["state"] == "failed"
    assert body["message"].startswith(f"the model failed to load: no model file in {tmp_path}")


async def test_ping_is_503_loading_while_a_worker_still_loads(model_dir):
    gate = threading.Event()

    def model_fn(model_dir):
        gate.wait(30)
        return joblib.load(Path(model_dir) / "model.joblib")

    async with in_process_server(
        model_dir, user_module=user_module(model_fn=model_fn), wait_for_load=False
    ) as server:
        loading = await server.client.get("/ping")
        gate.set()
        # A request sent meanwhile waits for the load instead of failing.
        answer = await server.client.post("/invocations", content=ROW, headers={"Content-Type": "text/csv"})
        ready = await server.client.get("/ping")
    assert loading.status_code == 503 and loading.json()["code"] == "model_loading"
    assert answer.status_code == 200
    assert ready.status_code == 200


# --- /invocations: answers --------------------------------------------------------------------


async def test_a_csv_row_gets_the_prediction_table_with_the_runtime_headers(model_dir):
    async with in_process_server(model_dir) as server:
        response = await server.client.post(
            "/invocations", content=ROW, headers={"Content-Type": "text/csv", "Accept": "application/json"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["predictions"] == [0] and body["classes"] == [0, 1, 2]
    assert len(response.headers["x-request-id"]) == 32
    assert int(response.headers["x-model-latency-us"]) > 0
    assert int(response.headers["x-overhead-latency-us"]) >= 0


async def test_text_answers_say_their_charset_and_accept_is_negotiated(model_dir):
    async with in_process_server(model_dir) as server:
        response = await server.client.post(
            "/invocations",
            content=ROW,
            headers={"Content-Type": "text/csv", "Accept": "application/x-npy;q=0.1, text/csv"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.startswith("0,")


async def test_the_default_accept_comes_from_the_config(model_dir):
    async with in_process_server(
        model_dir, env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    ) as server:
        response = await server.client.post("/invocations", content=ROW, headers={"Content-Type": "text/csv"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


async def test_a_declared_charset_is_applied_on_the_way_to_the_codec(model_dir):
    # The runtime's decoders get the bytes and the parsed type: latin-1 must not be read as UTF-8.
    body = '{"instances": [[5.1, 3.5, 1.4, 0.2]], "note": "caf\xe9"}'.encode("latin-1")
    async with in_process_server(model_dir) as server:
        response = await server.client.post(
            "/invocations", content=body, headers={"Content-Type": "application/json; charset=latin-1"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [0]


async def test_a_user_input_fn_gets_text_for_json_and_csv_and_bytes_otherwise(model_dir):
    seen: list[tuple[type, str]] = []

    def input_fn(input_data, content_type):
        seen.append((type(input_data), content_type))
        return np.array([[5.1, 3.5, 1.4, 0.2]])

    async with in_process_server(model_dir, user_module=user_module(input_fn=input_fn)) as server:
        for content_type in ("text/csv; charset=utf-8", "Application/JSON", "application/x-npy"):
            response = await server.client.post(
                "/invocations", content=b"ignored", headers={"Content-Type": content_type}
            )
            assert response.status_code == 200, response.text
    assert seen == [(str, "text/csv"), (str, "application/json"), (bytes, "application/x-npy")]


async def test_context_carries_the_sagemaker_headers_and_sets_response_headers(model_dir):
    def predict_fn(data, model, context):
        context.response_custom_attributes = f"seen={context.custom_attributes}"
        assert context.config is not None and context.config.model_dir == model_dir
        return model.predict(data)

    async with in_process_server(model_dir, user_module=user_module(predict_fn=predict_fn)) as server:
        response = await server.client.post(
            "/invocations",
            content=ROW,
            headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "trace=7"},
        )
    assert response.status_code == 200
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == "seen=trace=7"


# --- /invocations: errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Content-Type": "text/csv"}, "1,2,3", 400, "wrong_feature_count"),
        ({"Content-Type": "text/csv"}, "1,2,3,4\n1,x,3,4", 400, "invalid_value"),
        ({"Content-Type": "application/json"}, "[[1, 2", 400, "invalid_json"),
        ({"Content-Type": "application/xml"}, "<a/>", 415, "unsupported_media_type"),
        ({}, ROW, 415, "unsupported_media_type"),
        ({"Content-Type": "text/csv", "Accept": "image/png"}, ROW, 406, "not_acceptable"),
        ({"Content-Type": "text/csv", "Content-Length": "99999999"}, ROW, 413, "payload_too_large"),
    ],
)
async def test_client_mistakes_are_4xx_json_saying_what_was_wrong(model_dir, headers, body, status, code):
    async with in_process_server(model_dir) as server:
        response = await server.client.post("/invocations", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["code"] == code
    assert "Traceback" not in document["message"]


async def test_a_server_fault_is_a_500_without_internals(model_dir, caplog):
    def predict_fn(data, model):
        raise RuntimeError("secret path /srv/keys")

    async with in_process_server(model_dir, user_module=user_module(predict_fn=predict_fn)) as server:
        response = await server.client.post("/invocations", content=ROW, headers={"Content-Type": "text/csv"})
    assert response.status_code == 500
    document = response.json()
    assert document["code"] == "predict_failed"
    assert "secret" not in response.text and response.headers["x-request-id"] in document["message"]
    assert "secret path /srv/keys" in caplog.text  # the log has it, with the traceback


async def test_an_error_raised_by_user_code_keeps_its_status_and_details(model_dir):
    def input_fn(input_data, content_type):
        raise BadRequest("age must be positive", code="invalid_age", row=3)

    async with in_process_server(model_dir, user_module=user_module(input_fn=input_fn)) as server:
        response = await server.client.post("/invocations", content=ROW, headers={"Content-Type": "text/csv"})
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_age", "message": "age must be positive", "row": 3}


async def test_a_model_that_failed_to_load_answers_503_on_invocations(tmp_path, caplog):
    async with in_process_server(tmp_path) as server:
        caplog.clear()
        response = await server.client.post("/invocations", content=ROW, headers={"Content-Type": "text/csv"})
    assert response.status_code == 503
    assert response.json()["code"] == "model_not_ready"
    # One line saying why, not a traceback per refused request (the load's failure was logged once).
    assert "refused: the model failed to load" in caplog.text and "Traceback" not in caplog.text


# --- the other routes -------------------------------------------------------------------------


async def test_execution_parameters_come_from_the_config(model_dir):
    env = {"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3", "SAGEMAKER_BATCH_STRATEGY": "single_record"}
    async with in_process_server(model_dir, env=env) as server:
        response = await server.client.get("/execution-parameters")
    assert response.json() == {
        "MaxConcurrentTransforms": 3,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 6,
    }


async def test_metrics_count_invocations_by_outcome(model_dir):
    async with in_process_server(model_dir) as server:
        await server.client.post("/invocations", content=ROW, headers={"Content-Type": "text/csv"})
        await server.client.post("/invocations", content="1,2", headers={"Content-Type": "text/csv"})
        text = (await server.client.get("/metrics")).text
    assert "byoc_invocations_total 2.0" in text
    assert "byoc_invocation_4xx_errors_total 1.0" in text
    assert "byoc_invocation_5xx_errors_total 0.0" in text


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/nowhere", 404, "not_found"), ("GET", "/invocations", 405, "method_not_allowed")],
)
async def test_unknown_routes_and_methods_answer_json(model_dir, method, path, status, code):
    async with in_process_server(model_dir) as server:
        response = await server.client.request(method, path)
    assert response.status_code == status
    assert response.json()["code"] == code


# --- batching ---------------------------------------------------------------------------------


async def test_concurrent_requests_share_predict_calls_and_get_their_own_rows(model_dir):
    calls: list[int] = []
    release = threading.Event()

    def predict_fn(data, model):
        calls.append(len(data))
        release.wait(10)  # hold the first call so the others queue up behind it
        return model.predict(data)

    module = user_module(predict_fn=predict_fn)
    module.BYOC_HANDLER_OPTIONS = {"batchable": True}
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]] * 3
    async with in_process_server(model_dir, user_module=module) as server:
        assert server.invoker.policy.enabled
        requests = [
            server.client.post(
                "/invocations",
                content=",".join(map(str, row)),
                headers={"Content-Type": "text/csv", "Accept": "application/json"},
            )
            for row in rows
        ]
        pending = asyncio.gather(*requests)
        while not calls:
            await asyncio.sleep(0.01)
        release.set()
        responses = await pending
    assert [json.loads(r.content) for r in responses] == [[0], [2], [1]] * 3
    assert sum(calls) == len(rows) and len(calls) < len(rows)  # some calls served several requests
