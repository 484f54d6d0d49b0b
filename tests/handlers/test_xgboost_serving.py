"""The XGBoost handler through a real server: an `xgboost-model` from AWS's 1.7-1 era served as AWS serves it.

The model is a legacy-binary multi:softprob `xgboost-model` written by xgboost 1.7.4 (the version of AWS's
1.7-1 image), and the expected bytes are built from what that version predicted (fixtures/xgboost).
Contract: aws/sagemaker-xgboost-container 1.7-1, algorithm_mode/serve.py (invocations, _parse_accept)
and serve_utils.py; https://docs.aws.amazon.com/sagemaker/latest/dg/xgboost.html (inference formats).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import client, error_body, run_until_exit, serving

from container.serving.server_process import ServerProcess
from handlers.xgboost import recordio

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
ARTIFACT = FIXTURES / "xgboost" / "1.7.4" / "multi-softprob" / "xgboost-model"
EXPECTED = json.loads((FIXTURES / "xgboost" / "1.7.4" / "expected.json").read_text())
SOFTPROB = EXPECTED["cases"]["multi-softprob"]
BINARY_ARTIFACT = FIXTURES / "xgboost" / "1.7.4" / "binary-logistic" / "xgboost-model"
BINARY = EXPECTED["cases"]["binary-logistic"]


def csv_body(rows: list[list[float]]) -> str:
    # A NaN is an empty field: AWS reads it as missing (encoder.py, _clean_csv_string).
    return "\n".join(",".join("" if value != value else repr(value) for value in row) for row in rows)


def libsvm_body(rows: list[list[list[float]]]) -> str:
    return "\n".join("1 " + " ".join(f"{index}:{value!r}" for index, value in row) for row in rows) + "\n"


def csv_lines(predictions: list[Any]) -> bytes:
    return "".join(",".join(map(str, row)) + "\n" for row in predictions).encode()


def model_dir_with(tmp_path: Path, artifact: Path) -> Path:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copyfile(artifact, model_dir / "xgboost-model")
    return model_dir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    model_dir = model_dir_with(tmp_path_factory.mktemp("xgboost"), ARTIFACT)
    with serving(model_dir, env={"BYOC_HANDLER": "xgboost"}, workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server) as session:
        yield session


def post(http: httpx.Client, body: bytes | str, content_type: str | None, accept: str | None = None):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if accept is not None:
        headers["Accept"] = accept
    return http.post("/invocations", content=body, headers=headers)


def test_csv_in_csv_out_by_default(http: httpx.Client) -> None:
    """No Accept: AWS answers text/csv (serve.py _parse_accept's default), one row per line."""
    response = post(http, csv_body(EXPECTED["dense_rows"]), "text/csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content == csv_lines(SOFTPROB["dense_predictions"])
    assert post(http, csv_body(EXPECTED["dense_rows"]), "text/csv", "*/*").content == response.content


@pytest.mark.parametrize("content_type", ["text/libsvm", "text/x-libsvm", None])
def test_libsvm_in(http: httpx.Client, content_type: str | None) -> None:
    """Absent entries are missing values; no Content-Type at all reads as libsvm, as in AWS's
    data_utils.get_content_type(None)."""
    response = post(http, libsvm_body(EXPECTED["sparse_rows"]), content_type, "text/csv")
    assert response.status_code == 200, response.text
    assert response.content == csv_lines(SOFTPROB["sparse_predictions"])


@pytest.mark.parametrize(
    ("body", "predictions"),
    [("dense-float64.rec", "dense_predictions"), ("sparse-float32.rec", "sparse_predictions")],
)
def test_recordio_protobuf_in_as_the_sdk_writes_it(http: httpx.Client, body: str, predictions: str) -> None:
    """Bodies written by the SageMaker SDK's RecordIO writers (fixtures/recordio/make_payloads.py)."""
    payload = (FIXTURES / "recordio" / body).read_bytes()
    response = post(http, payload, "application/x-recordio-protobuf", "text/csv")
    assert response.status_code == 200, response.text
    assert response.content == csv_lines(SOFTPROB[predictions])


def test_json_out(http: httpx.Client) -> None:
    """serve_utils.py encode_predictions_as_json: {"predictions": [{"score": [...]}, ...]}."""
    response = post(http, csv_body(EXPECTED["dense_rows"][:2]), "text/csv", "application/json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    expected = {"predictions": [{"score": row} for row in SOFTPROB["dense_predictions"][:2]]}
    assert response.content == json.dumps(expected).encode()


def test_recordio_out_without_selected_keys(http: httpx.Client) -> None:
    """Deliberate difference: AWS's container fails with a 500 here; the handler writes the scores."""
    response = post(http, csv_body(EXPECTED["dense_rows"][:1]), "text/csv", "application/x-recordio-protobuf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-recordio-protobuf"
    (payload,) = recordio.split_records(response.content)
    record = recordio.parse_record(payload, 0)
    assert list(record.label["score"].float32_tensor.values) == SOFTPROB["dense_predictions"][0]


def test_json_in_is_an_extension(http: httpx.Client) -> None:
    """Deliberate difference: AWS answers application/json requests 415; the handler reads JSON rows."""
    rows = EXPECTED["dense_rows"][:1]
    body = json.dumps({"instances": [[None if v != v else v for v in row] for row in rows]})
    response = post(http, body, "application/json", "text/csv")
    assert response.status_code == 200, response.text
    assert response.content == csv_lines(SOFTPROB["dense_predictions"][:1])


def test_empty_body_is_200_and_empty(http: httpx.Client) -> None:
    """Deliberate difference: AWS answers 204; the handler 200 with the same empty body (the runtime
    has no success status but 200), so a batch job's empty record still yields no output."""
    response = post(http, b"", "text/csv")
    assert response.status_code == 200
    assert response.content == b""


def test_client_mistakes_are_4xx_with_what_was_wrong(http: httpx.Client) -> None:
    """AWS: 415 for what cannot be parsed, 400 for a row wider than the model, 406 for an Accept it
    cannot write; the handler keeps those statuses and says in a JSON body what was wrong."""
    header = error_body(post(http, "a,b,c,d,e,f\n1,2,3,4,5,6", "text/csv"), 415, "invalid_value")
    assert header["row"] == 1 and header["column"] == 1
    wide = error_body(post(http, "1,2,3,4,5,6,7", "text/csv"), 400, "wrong_feature_count")
    assert wide["expected"] == 6 and wide["found"] == 7
    error_body(post(http, "1,2", "application/x-parquet"), 415)
    error_body(post(http, b"\x00\x01", "application/x-recordio-protobuf"), 415, "invalid_recordio")
    error_body(post(http, "1,2", "text/csv", "application/x-npy"), 406)
    error_body(post(http, "1,2", "text/csv; label_size=2"), 415, "invalid_label_size")


def test_concurrent_requests_batched_equal_one_by_one(http: httpx.Client) -> None:
    """Requests that share a predict call get exactly the rows they would get alone."""
    rows = EXPECTED["dense_rows"]
    expected = {i: csv_lines([SOFTPROB["dense_predictions"][i % len(rows)]]) for i in range(24)}

    def send(i: int) -> bytes:
        response = post(http, csv_body([rows[i % len(rows)]]), "text/csv")
        assert response.status_code == 200, response.text
        return response.content

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = dict(zip(range(24), pool.map(send, range(24)), strict=True))
    assert answers == expected


# --- settings ------------------------------------------------------------------------------------


def test_selected_keys_and_default_accept_from_the_environment(tmp_path: Path) -> None:
    """SAGEMAKER_INFERENCE_OUTPUT selects the keys (serve_utils.py get_selected_predictions);
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT replaces text/csv as the default (serve.py _parse_accept)."""
    env = {
        "BYOC_HANDLER": "xgboost",
        "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label, probabilities",
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines",
    }
    with serving(model_dir_with(tmp_path, BINARY_ARTIFACT), env=env) as running, client(running) as http:
        response = post(http, csv_body(EXPECTED["dense_rows"][:2]), "text/csv")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/jsonlines"
        lines = [
            {"predicted_label": int(p > 0.5), "probabilities": [1.0 - p, p]}
            for p in BINARY["dense_predictions"][:2]
        ]
        assert response.content == "".join(json.dumps(line) + "\n" for line in lines).encode()
        csv_response = post(http, csv_body(EXPECTED["dense_rows"][:1]), "text/csv", "text/csv")
        p = BINARY["dense_predictions"][0]
        assert csv_response.content == f'{int(p > 0.5)},"{[1.0 - p, p]}"'.encode()


def test_a_misspelt_output_key_stops_the_server_naming_it(tmp_path: Path) -> None:
    """Deliberate difference: AWS serves every row with the unknown key set to NaN; here the variable is
    read with the runtime's settings at start, and a value that can never work stops the server."""
    env = {"BYOC_HANDLER": "xgboost", "SAGEMAKER_INFERENCE_OUTPUT": "predicted_lable"}
    status, log = run_until_exit(model_dir_with(tmp_path, BINARY_ARTIFACT), env=env)
    assert status != 0
    assert "SAGEMAKER_INFERENCE_OUTPUT='predicted_lable' is invalid" in log
