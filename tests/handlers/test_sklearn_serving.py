"""The default scikit-learn handler through a real server: formats in and out, client errors, headers.

One server (default settings, one worker) is shared by the whole module.
"""

from __future__ import annotations

import csv
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
import scipy.sparse
from server_helpers import (
    CSV_ROWS,
    HTTP_TIMEOUT,
    ROWS,
    access_lines,
    client,
    error_body,
    make_model_dir,
    serving,
    wait_until,
)
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    model_dir = make_model_dir(tmp_path_factory.mktemp("sklearn"), model_file)
    with serving(model_dir) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server) as session:
        yield session


@pytest.fixture(scope="module")
def expected(trained_model: Any) -> dict[str, Any]:
    rows = np.array(ROWS)
    return {
        "predictions": trained_model.predict(rows).tolist(),
        "probabilities": trained_model.predict_proba(rows),
        "classes": trained_model.classes_.tolist(),
    }


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=array.dtype == object)
    return buffer.getvalue()


def invoke(http: httpx.Client, body: bytes | str, content_type: str | None, accept: str | None = None):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if accept is not None:
        headers["Accept"] = accept
    return http.post("/invocations", content=body, headers=headers)


def assert_json_predictions(response: httpx.Response, expected: dict[str, Any]) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["predictions"] == expected["predictions"]
    assert body["classes"] == expected["classes"]
    np.testing.assert_allclose(body["probabilities"], expected["probabilities"], rtol=1e-6)


# --- /ping and other routes -------------------------------------------------------------------


def test_ping_is_200_with_an_empty_body_when_ready(http: httpx.Client) -> None:
    response = http.get("/ping")
    assert response.status_code == 200
    assert response.content == b""


def test_the_sample_rows_are_of_two_different_classes(expected: dict[str, Any]) -> None:
    # Guards the fixtures: the row-order checks below mean nothing if every row had one class.
    assert expected["predictions"] == [0, 2]


def test_execution_parameters_defaults(http: httpx.Client) -> None:
    response = http.get("/execution-parameters")
    assert response.status_code == 200
    # MaxConcurrentTransforms defaults to the number of workers (1 here).
    assert response.json() == {
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("POST", "/models/iris/invoke", 404, "not_found"),
        ("GET", "/invocations", 405, "method_not_allowed"),
        ("POST", "/ping", 405, "method_not_allowed"),
        ("DELETE", "/execution-parameters", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_are_json_errors(
    http: httpx.Client, method: str, path: str, status: int, code: str
) -> None:
    body = error_body(http.request(method, path), status, code)
    assert path in body["message"]


# --- request formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", CSV_ROWS),
        ("Text/CSV; charset=UTF-8", CSV_ROWS),
        ("text/csv", "sepal_length,sepal_width,petal_length,petal_width\n" + CSV_ROWS),
        ("text/csv", '"5.1","3.5","1.4","0.2"\n6.7,3.0,5.2,2.3\n'),
        ("application/json", json.dumps(ROWS)),
        ("application/json; charset=utf-8", json.dumps({"instances": ROWS})),
        ("application/json", json.dumps({"instances": [{"features": r} for r in ROWS]})),
        ("application/jsonlines", "\n".join(json.dumps(r) for r in ROWS) + "\n"),
        ("application/jsonlines", "\n".join(json.dumps({"features": r}) for r in ROWS)),
    ],
)
def test_text_formats_in(http: httpx.Client, expected: dict[str, Any], content_type: str, body: str) -> None:
    response = invoke(http, body, content_type, "application/json")
    assert_json_predictions(response, expected)


def test_a_single_json_row_is_one_prediction(http: httpx.Client, expected: dict[str, Any]) -> None:
    response = invoke(http, json.dumps(ROWS[1]), "application/json", "application/json")
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected["predictions"][1:]


def test_npy_in(http: httpx.Client, expected: dict[str, Any]) -> None:
    response = invoke(http, npy_bytes(np.array(ROWS)), "application/x-npy", "application/json")
    assert_json_predictions(response, expected)


@pytest.fixture(scope="module")
def sparse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # The sample model standardises its input, which scikit-learn cannot do to a sparse matrix:
    # NPZ requests go to a model that takes sparse rows.
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000, random_state=0).fit(features, labels)
    root = tmp_path_factory.mktemp("sparse")
    joblib.dump(model, root / "trained.joblib")
    with serving(make_model_dir(root, root / "trained.joblib")) as running:
        running.model = model  # type: ignore[attr-defined]
        yield running


def test_npz_in(sparse_server: ServerProcess) -> None:
    buffer = io.BytesIO()
    scipy.sparse.save_npz(buffer, scipy.sparse.csr_matrix(np.array(ROWS)))
    with client(sparse_server) as http:
        response = invoke(http, buffer.getvalue(), "application/x-npz", "application/json")
        model = sparse_server.model  # type: ignore[attr-defined]
        expected = {
            "predictions": model.predict(np.array(ROWS)).tolist(),
            "probabilities": model.predict_proba(np.array(ROWS)),
            "classes": model.classes_.tolist(),
        }
        assert_json_predictions(response, expected)
        # A sparse matrix of the wrong width is a 400 like any other.
        buffer = io.BytesIO()
        scipy.sparse.save_npz(buffer, scipy.sparse.csr_matrix(np.ones((1, 3))))
        body = error_body(invoke(http, buffer.getvalue(), "application/x-npz"), 400, "wrong_feature_count")
        assert (body["expected"], body["found"]) == (4, 3)
        error_body(invoke(http, b"not a zip file", "application/x-npz"), 400, "invalid_npz")


def test_sparse_rows_to_a_dense_only_model_are_a_client_error(http: httpx.Client) -> None:
    buffer = io.BytesIO()
    scipy.sparse.save_npz(buffer, scipy.sparse.csr_matrix(np.array(ROWS)))
    # StandardScaler cannot centre a sparse matrix: the format the client chose is at fault.
    body = error_body(invoke(http, buffer.getvalue(), "application/x-npz"), 415, "sparse_input_refused")
    assert "text/csv" in body["supported"]


# --- response formats and Accept negotiation --------------------------------------------------


def test_csv_out(http: httpx.Client, expected: dict[str, Any]) -> None:
    response = invoke(http, CSV_ROWS, "text/csv", "text/csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert [int(r[0]) for r in rows] == expected["predictions"]  # labels stay integers
    np.testing.assert_allclose(
        [[float(v) for v in r[1:]] for r in rows], expected["probabilities"], rtol=1e-6
    )


def test_jsonlines_out(http: httpx.Client, expected: dict[str, Any]) -> None:
    response = invoke(http, CSV_ROWS, "text/csv", "application/jsonlines")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jsonlines"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["prediction"] for line in lines] == expected["predictions"]
    np.testing.assert_allclose(
        [line["probabilities"] for line in lines], expected["probabilities"], rtol=1e-6
    )


def test_npy_out(http: httpx.Client, expected: dict[str, Any]) -> None:
    response = invoke(http, CSV_ROWS, "text/csv", "application/x-npy")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-npy"
    array = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert array.tolist() == expected["predictions"]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),  # SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT's default
        ("*/*", "application/json"),
        ("text/csv;q=0.5, application/jsonlines;q=0.9", "application/jsonlines"),
        ("application/jsonlines;q=0.2, text/csv", "text/csv"),
        ("text/*", "text/csv"),
        ("image/png, text/*;q=0.3", "text/csv"),
        ("application/*", "application/json"),  # a tie among application/ types: the default wins
        ("application/*;q=0.9, application/json;q=0.1", "application/jsonlines"),
        ("application/x-npy;q=1.0, */*;q=0.1", "application/x-npy"),
    ],
)
def test_accept_negotiation(http: httpx.Client, accept: str | None, chosen: str) -> None:
    response = invoke(http, CSV_ROWS, "text/csv", accept)
    assert response.status_code == 200, response.text
    assert response.request.headers.get("accept") == accept
    assert response.headers["content-type"].split(";")[0] == chosen


@pytest.mark.parametrize("accept", ["image/png", "text/html, application/xml;q=0.9", "application/json;q=0"])
def test_not_acceptable(http: httpx.Client, accept: str) -> None:
    body = error_body(invoke(http, CSV_ROWS, "text/csv", accept), 406, "not_acceptable")
    assert "application/json" in body["supported"]


def test_malformed_accept_is_a_400(http: httpx.Client) -> None:
    error_body(invoke(http, CSV_ROWS, "text/csv", "text/csv;q=high"), 400, "invalid_accept")


# --- client errors ----------------------------------------------------------------------------


def test_bad_csv_cell_names_row_and_column(http: httpx.Client) -> None:
    body = error_body(invoke(http, "5.1,3.5,1.4,0.2\n6.7,oops,5.2,2.3\n", "text/csv"), 400, "invalid_value")
    assert (body["row"], body["column"]) == (2, 2)
    assert "oops" in body["message"]


def test_wrong_feature_count_says_expected_and_found(http: httpx.Client) -> None:
    body = error_body(invoke(http, "5.1,3.5,1.4\n", "text/csv"), 400, "wrong_feature_count")
    assert (body["expected"], body["found"]) == (4, 3)
    body = error_body(
        invoke(http, json.dumps([[1, 2, 3, 4, 5]]), "application/json"), 400, "wrong_feature_count"
    )
    assert (body["expected"], body["found"]) == (4, 5)


def test_invalid_json(http: httpx.Client) -> None:
    body = error_body(invoke(http, "[[5.1, 3.5, 1.4, 0.2]", "application/json"), 400, "invalid_json")
    assert body["line"] == 1


def test_ragged_json_rows(http: httpx.Client) -> None:
    body = error_body(
        invoke(http, json.dumps([ROWS[0], ROWS[1][:3]]), "application/json"), 400, "ragged_rows"
    )
    assert body["row"] == 2


def test_non_numeric_json_value(http: httpx.Client) -> None:
    body = error_body(invoke(http, json.dumps([[5.1, "wide", 1.4, 0.2]]), "application/json"), 400)
    assert body["code"] == "invalid_value"


def test_empty_body(http: httpx.Client) -> None:
    error_body(invoke(http, b"", "text/csv"), 400, "empty_body")


def test_pickled_npy_is_refused_not_unpickled(http: httpx.Client) -> None:
    payload = npy_bytes(np.array([[1, 2, 3, 4], ["a", None, {}, 4]], dtype=object))
    error_body(invoke(http, payload, "application/x-npy"), 400, "pickled_array_refused")


def test_unsupported_content_type(http: httpx.Client) -> None:
    body = error_body(invoke(http, "<rows/>", "application/xml"), 415, "unsupported_media_type")
    assert "text/csv" in body["supported"]


def test_missing_content_type(http: httpx.Client) -> None:
    response = invoke(http, CSV_ROWS, None)
    assert "content-type" not in response.request.headers
    error_body(response, 415, "unsupported_media_type")


def test_unknown_charset_is_a_415(http: httpx.Client) -> None:
    error_body(invoke(http, CSV_ROWS, "text/csv; charset=no-such-charset"), 415, "unsupported_media_type")


def test_undecodable_bytes_are_a_400(http: httpx.Client) -> None:
    error_body(invoke(http, b"5.1,3.5,\xff\xfe,0.2\n", "text/csv"), 400, "invalid_encoding")


@pytest.mark.parametrize(
    ("first_headers", "first_status"),
    [
        ("Content-Type: application/xml", b"415"),  # the body is read, never decoded
        ("Content-Type: text/csv\r\nAccept: image/png", b"406"),  # refused before the body is read
    ],
)
def test_an_error_leaves_a_keep_alive_connection_usable(
    server: ServerProcess, first_headers: str, first_status: bytes
) -> None:
    # A raw HTTP/1.1 exchange on one connection: the failed request, then a good one; both must
    # be answered, in order.
    with socket.create_connection(("127.0.0.1", server.port), timeout=HTTP_TIMEOUT) as sock:
        payload = CSV_ROWS.encode()
        bad = (
            f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n{first_headers}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        good = (
            f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            f"Accept: text/csv\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        sock.sendall(bad + good)
        received = b""
        while chunk := sock.recv(65536):  # until the server closes, as the second request asks
            received += chunk
    assert received.startswith(b"HTTP/1.1 " + first_status + b" ")
    second = received.index(b"HTTP/1.1 200 ")
    assert b"\r\n\r\n0," in received[second:]  # the CSV body of the good request: class 0 first


# --- headers and the access log ---------------------------------------------------------------


def test_latency_and_request_id_headers(http: httpx.Client) -> None:
    response = invoke(http, CSV_ROWS, "text/csv", "application/json")
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert len(request_id) >= 16 and request_id.isalnum()
    model_us = int(response.headers["x-model-latency-us"])
    overhead_us = int(response.headers["x-overhead-latency-us"])
    assert model_us > 0  # predict_fn ran
    assert overhead_us >= 0
    again = invoke(http, CSV_ROWS, "text/csv", "application/json")
    assert again.headers["x-request-id"] != request_id


def test_error_responses_carry_the_headers_too(http: httpx.Client) -> None:
    response = invoke(http, "5.1,3.5\n", "text/csv")
    assert response.status_code == 400
    assert response.headers["x-request-id"]
    assert int(response.headers["x-model-latency-us"]) >= 0
    assert int(response.headers["x-overhead-latency-us"]) >= 0


def test_one_access_log_line_per_invocation_and_none_for_ping(
    server: ServerProcess, http: httpx.Client
) -> None:
    assert http.get("/ping").status_code == 200
    ok = invoke(http, CSV_ROWS, "text/csv", "application/json")
    bad = invoke(http, "5.1,oops,1\n1,2,3\n", "text/csv")
    assert http.get("/ping").status_code == 200
    ids = {ok.headers["x-request-id"]: ok, bad.headers["x-request-id"]: bad}

    def lines_for_both() -> list[dict[str, Any]] | None:
        found = [line for line in access_lines(server) if line.get("request_id") in ids]
        return found if len(found) >= 2 else None

    found = wait_until(lines_for_both, "the access-log lines of two requests")
    assert len(found) == 2, found  # exactly one line per request
    for line in found:
        response = ids[line["request_id"]]
        assert line["path"] == "/invocations"
        assert line["method"] == "POST"
        assert line["status"] == response.status_code
        assert line["bytes_in"] == len(response.request.content)
        assert line["bytes_out"] == len(response.content)
        assert line["model_ms"] >= 0 and line["overhead_ms"] >= 0
        # The log and the headers report the same measurements.
        assert abs(line["model_ms"] * 1000 - int(response.headers["x-model-latency-us"])) <= 1
        assert abs(line["overhead_ms"] * 1000 - int(response.headers["x-overhead-latency-us"])) <= 1
    assert not [line for line in access_lines(server) if line.get("path") != "/invocations"]


def test_access_log_counts_the_bytes_of_a_chunked_body(server: ServerProcess, http: httpx.Client) -> None:
    payload = CSV_ROWS.encode()

    def chunks() -> Iterator[bytes]:
        yield payload[:10]
        yield payload[10:]

    response = http.post("/invocations", content=chunks(), headers={"Content-Type": "text/csv"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    line = wait_until(
        lambda: next((x for x in access_lines(server) if x.get("request_id") == request_id), None),
        "the access-log line of a chunked request",
    )
    assert line["bytes_in"] == len(payload)


def test_a_client_that_disconnects_mid_body_is_not_a_server_error(
    server: ServerProcess, http: httpx.Client
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 100\r\n\r\n5.1,3.5"
        )
        # Closed with 93 bytes of the body still owed; what was sent is still delivered before the FIN.
    line = wait_until(
        lambda: next((x for x in access_lines(server) if x.get("status") == 499), None),
        "the access-log line of the abandoned request",
    )
    assert line["bytes_in"] == 7  # what arrived, not what Content-Length promised
    log = server.log_text()
    assert "ClientDisconnect" not in log and "failed in request" not in log  # no traceback, no 500
    assert (
        http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"}).status_code == 200
    )
