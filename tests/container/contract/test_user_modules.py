"""User modules through the real server: the context argument, and modules written for AWS's
sagemaker-inference toolkit that must run here unchanged."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from server_helpers import CSV_ROWS, ROWS, client, error_body, make_model_dir, serving

from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"

CONTEXT_MODULE = """
import json
import os

import joblib


def model_fn(model_dir, context):
    model = joblib.load(os.path.join(model_dir, "model.joblib"))
    return {"model": model, "model_dir_seen": context.system_properties["model_dir"]}


def input_fn(input_data, content_type, context):
    return {
        "rows": json.loads(input_data),
        "content_type": content_type,
        "raw_content_type": context.content_type,
    }


def predict_fn(data, model, context):
    return {
        "predictions": model["model"].predict(data["rows"]).tolist(),
        "seen": {
            "custom_attributes": context.custom_attributes,
            "inference_id": context.inference_id,
            "target_model": context.target_model,
            "target_variant": context.target_variant,
            "request_id": context.request_id,
            "accept": context.accept,
            "content_type": data["content_type"],
            "raw_content_type": data["raw_content_type"],
            "model_dir": model["model_dir_seen"],
            # The multi-model-server spellings that sagemaker-inference handlers use.
            "mms_header": context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes"),
            "mms_properties": context.request_processor[0]
            .get_request_properties()
            .get("x-amzn-sagemaker-inference-id"),
            "unknown_header": context.get_request_header(0, "X-Some-Proxy-Header"),
        },
    }


def output_fn(prediction, accept, context):
    attributes = prediction["seen"]["custom_attributes"]
    if attributes:
        context.response_custom_attributes = "echo=" + attributes
    context.set_response_header("X-Handler-Note", "from output_fn")
    return json.dumps(prediction), "application/json"
"""

# Written against AWS's toolkit and left as it is: its imports, its codecs, its error class.
SAGEMAKER_INFERENCE_MODULE = """
import os

import joblib
import numpy as np
from sagemaker_inference import content_types, decoder, encoder, errors


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(input_data, content_type):
    if content_type not in (content_types.JSON, content_types.CSV, content_types.NPY):
        raise errors.BaseInferenceToolkitError(415, f"cannot read {content_type}", "Unsupported Media Type")
    data = np.atleast_2d(decoder.decode(input_data, content_type))
    if data.shape[1] != 4:
        raise errors.BaseInferenceToolkitError(
            422, f"each row needs 4 measurements, not {data.shape[1]}", "Unprocessable Entity"
        )
    return data


def predict_fn(data, model):
    return model.predict(data)


def output_fn(prediction, accept):
    if accept not in encoder.SUPPORTED_CONTENT_TYPES:
        raise errors.GenericInferenceToolkitError(406, f"cannot write {accept}")
    return encoder.encode(prediction, accept)
"""

TRANSFORM_MODULE = """
import os

import joblib
import numpy as np
from sagemaker_inference import content_types, decoder, encoder, errors


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def transform_fn(model, request_body, content_type, accept):
    if content_type != content_types.JSON:
        raise errors.GenericInferenceToolkitError(415, f"JSON only, not {content_type}")
    data = np.atleast_2d(decoder.decode(request_body, content_type))
    if data.shape[1] != 4:
        raise errors.BaseInferenceToolkitError(400, "each row needs 4 measurements", "Bad Request")
    return encoder.encode(model.predict(data), accept), accept
"""


def start(tmp_path_factory: pytest.TempPathFactory, model_file: Path, name: str, source: str):
    model_dir = make_model_dir(tmp_path_factory.mktemp(name), model_file, {"inference.py": source})
    return serving(model_dir)


# --- the context argument ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def context_server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    with start(tmp_path_factory, model_file, "context", CONTEXT_MODULE) as running:
        yield running


def test_the_context_carries_what_sagemaker_forwards(context_server: ServerProcess) -> None:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
        CUSTOM_ATTRIBUTES: "trace=abc-123,tenant=7",
        "X-Amzn-SageMaker-Inference-Id": "inference-0001",
        "X-Amzn-SageMaker-Target-Model": "models/iris-v2.tar.gz",
        "X-Amzn-SageMaker-Target-Variant": "blue",
        "X-Some-Proxy-Header": "ignored-but-visible",
    }
    with client(context_server) as http:
        response = http.post("/invocations", content=json.dumps(ROWS), headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == [0, 2]
    seen = body["seen"]
    assert seen["custom_attributes"] == "trace=abc-123,tenant=7"
    assert seen["inference_id"] == "inference-0001"
    assert seen["target_model"] == "models/iris-v2.tar.gz"
    assert seen["target_variant"] == "blue"
    assert seen["request_id"] == response.headers["x-request-id"]
    assert seen["accept"] == "application/json"
    assert seen["content_type"] == "application/json"  # what input_fn gets: no parameters
    assert seen["raw_content_type"] == "application/json; charset=utf-8"
    assert seen["model_dir"] == context_server.env["BYOC_MODEL_DIR"]
    assert seen["mms_header"] == "trace=abc-123,tenant=7"
    assert seen["mms_properties"] == "inference-0001"
    assert seen["unknown_header"] == "ignored-but-visible"
    # The handler's custom attributes and header come back to the caller.
    assert response.headers[CUSTOM_ATTRIBUTES] == "echo=trace=abc-123,tenant=7"
    assert response.headers["X-Handler-Note"] == "from output_fn"


def test_without_custom_attributes_none_come_back(context_server: ServerProcess) -> None:
    with client(context_server) as http:
        response = http.post(
            "/invocations", content=json.dumps(ROWS), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200, response.text
    seen = response.json()["seen"]
    assert seen["custom_attributes"] is None and seen["inference_id"] is None
    assert seen["accept"] == "application/json"  # the default, as no Accept was sent
    assert CUSTOM_ATTRIBUTES.lower() not in response.headers
    assert response.headers["X-Handler-Note"] == "from output_fn"


# --- sagemaker-inference modules, unchanged ---------------------------------------------------


@pytest.fixture(scope="module")
def toolkit_server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    with start(tmp_path_factory, model_file, "toolkit", SAGEMAKER_INFERENCE_MODULE) as running:
        yield running


@pytest.fixture(scope="module")
def toolkit_http(toolkit_server: ServerProcess) -> Iterator[httpx.Client]:
    with client(toolkit_server) as http:
        yield http


def test_sagemaker_inference_module_json(toolkit_http: httpx.Client) -> None:
    response = toolkit_http.post(
        "/invocations",
        content=json.dumps(ROWS),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [0, 2]


def test_sagemaker_inference_module_csv_both_ways(toolkit_http: httpx.Client) -> None:
    response = toolkit_http.post(
        "/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.split() == ["0", "2"]


def test_sagemaker_inference_module_npy(toolkit_http: httpx.Client) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array(ROWS))
    response = toolkit_http.post(
        "/invocations",
        content=buffer.getvalue(),
        headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
    )
    assert response.status_code == 200, response.text
    assert np.load(io.BytesIO(response.content)).tolist() == [0, 2]


def test_base_inference_toolkit_error_sets_the_status(toolkit_http: httpx.Client) -> None:
    response = toolkit_http.post(
        "/invocations", content=json.dumps([[1, 2, 3]]), headers={"Content-Type": "application/json"}
    )
    body = error_body(response, 422, "unprocessable_entity")
    assert body["message"] == "each row needs 4 measurements, not 3"


def test_base_inference_toolkit_error_from_input_fn_for_a_content_type(toolkit_http: httpx.Client) -> None:
    response = toolkit_http.post(
        "/invocations", content=b"x", headers={"Content-Type": "application/x-image"}
    )
    body = error_body(response, 415)
    assert "application/x-image" in body["message"]


# --- transform_fn -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transform_server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    with start(tmp_path_factory, model_file, "transform", TRANSFORM_MODULE) as running:
        yield running


def test_transform_fn_module(transform_server: ServerProcess) -> None:
    with client(transform_server) as http:
        response = http.post(
            "/invocations",
            content=json.dumps(ROWS),
            headers={"Content-Type": "application/json", "Accept": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text.split() == ["0", "2"]
        assert int(response.headers["x-model-latency-us"]) > 0  # transform_fn's time counts as the model's

        body = error_body(
            http.post(
                "/invocations", content=json.dumps([[1, 2]]), headers={"Content-Type": "application/json"}
            ),
            400,
        )
        assert body["message"] == "each row needs 4 measurements"
        body = error_body(
            http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"}), 415
        )
        assert "JSON only" in body["message"]
