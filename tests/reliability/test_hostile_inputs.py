"""What a hostile (or careless) client can send, as a table: the input, the status and code it must get.

One server with the sample model (a scikit-learn pipeline) and the default handler, on loopback,
batching on as deployed. Every row is a client's mistake, so every answer is a 4xx with a JSON body
saying what was wrong, never a 5xx and never a traceback, and nothing it sends writes a traceback
to the log either (a 5xx alarm any client could raise). Requests whose header section the HTTP layer
refuses are sent over a raw socket (see test_connection_limits.py for the limits themselves).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np
import pytest
from server_helpers import LEAK, client, error_body, make_model_dir, serving

from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration

ROW = "5.1,3.5,1.4,0.2"
MIB = 1024 * 1024


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


class Case(NamedTuple):
    body: bytes
    headers: dict[str, str]
    status: int
    code: str
    says: str = ""  # a phrase the message must hold


NPY = {"Content-Type": "application/x-npy"}
JSON = {"Content-Type": "application/json"}


def csv(body: str | bytes, **headers: str) -> tuple[bytes, dict[str, str]]:
    data = body.encode() if isinstance(body, str) else body
    return data, {"Content-Type": "text/csv", **headers}


CASES: dict[str, Case] = {
    # Numbers a float cannot hold, or that no model takes.
    "csv inf": Case(*csv("inf,3.5,1.4,0.2"), 400, "non_finite_value", "row 1, column 1"),
    "csv -inf": Case(*csv("5.1,-inf,1.4,0.2"), 400, "non_finite_value", "row 1, column 2"),
    "csv 1e309": Case(*csv("5.1,3.5,1e309,0.2"), 400, "non_finite_value", "row 1, column 3"),
    "csv 200,000 digits": Case(*csv("5.1,3.5,1.4," + "9" * 200_000), 400, "non_finite_value", "column 4"),
    "csv empty cell": Case(*csv("5.1,,1.4,0.2"), 400, "missing_value", "row 1, column 2 is missing"),
    "csv not a number": Case(*csv(f"{ROW}\n5.1,wide,1.4,0.2"), 400, "invalid_value", "row 2, column 2"),
    "npy complex": Case(npy(np.full((1, 4), 1 + 2j)), NPY, 400, "unsupported_dtype", "complex128"),
    "npy dates": Case(npy(np.zeros((1, 4), "datetime64[s]")), NPY, 400, "unsupported_dtype", "datetime64"),
    "npy pickled objects": Case(npy(np.array([[object()]], dtype=object)), NPY, 400, "pickled_array_refused"),
    "npy header lies about its size": Case(npy(np.zeros((1, 4)))[:-16], NPY, 400, "invalid_npy"),
    "json 1e309": Case(b"[[5.1, 3.5, 1.4, 1e309]]", JSON, 400, "invalid_json"),
    "json nested 10,000 deep": Case(b"[" * 10_000 + b"]" * 10_000, JSON, 400, ""),
    "wrong feature count": Case(*csv("5.1,3.5"), 400, "wrong_feature_count"),
    "no content type": Case(ROW.encode(), {}, 415, "unsupported_media_type"),
    "unknown content type": Case(ROW.encode(), {"Content-Type": "image/png"}, 415, "unsupported_media_type"),
    "bad charset": Case(*csv("5.1,3.5,1.4,0.2", **{"Content-Type": "text/csv; charset=nonsense"}), 415, ""),
    "invalid utf-8": Case(*csv(b"5.1,\xff,1.4,0.2"), 400, "invalid_encoding"),
    "empty body": Case(*csv(b""), 400, "empty_body"),
    # Bodies over the limit, compressed or not.
    "declared 7 MiB": Case(*csv(ROW, **{"Content-Length": str(7 * MIB)}), 413, "payload_too_large"),
    "gzip bomb": Case(
        *csv(gzip.compress(b"0" * (64 * MIB)), **{"Content-Encoding": "gzip"}), 413, "payload_too_large"
    ),
    "unknown content encoding": Case(
        *csv(ROW, **{"Content-Encoding": "br"}), 415, "unsupported_content_encoding", "'br'"
    ),
    "gzip that is not": Case(*csv(ROW, **{"Content-Encoding": "gzip"}), 400, "invalid_content_encoding"),
    "bad content length": Case(*csv(ROW, **{"Content-Length": "lots"}), 400, "invalid_http"),
    # What SageMaker must not be bothered with.
    "not acceptable": Case(*csv(ROW, Accept="image/png"), 406, "not_acceptable"),
}
# Compressed bodies a client may send on purpose: decoded, then predicted.
GOOD = {
    "gzip": csv(gzip.compress(ROW.encode()), **{"Content-Encoding": "gzip"}),
    "deflate": csv(zlib.compress(ROW.encode()), **{"Content-Encoding": "deflate"}),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    model_dir = make_model_dir(tmp_path_factory.mktemp("hostile"), model_file)
    with serving(model_dir, workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server) as session:
        yield session


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_input_is_a_client_error_saying_what_was_wrong(http: httpx.Client, name: str) -> None:
    case = CASES[name]
    headers = dict(case.headers)
    if "Content-Length" in headers:
        # httpx computes its own Content-Length: send the one the case declares over a raw socket.
        response = raw_post(http, case.body, headers)
    else:
        response = http.post("/invocations", content=case.body, headers=headers)
    body = error_body(response, case.status, case.code or None)
    assert case.says in body["message"], body
    assert "sklearn" not in body["message"] and "scikit-learn" not in body["message"], body


@pytest.mark.parametrize("name", list(GOOD))
def test_a_compressed_body_is_decoded(http: httpx.Client, name: str) -> None:
    body, headers = GOOD[name]
    response = http.post("/invocations", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [0]


def test_header_sections_over_the_limits_are_431(server: ServerProcess) -> None:
    line = b"X-Big: " + b"a" * MIB + b"\r\n"
    many = b"".join(b"X-%d: 1\r\n" % n for n in range(100_000))
    for extra in (line, many):
        status, body = raw_exchange(server.port, b"GET /ping HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n")
        assert status == 431 and b'"header_section_too_large"' in body


def test_none_of_it_wrote_a_traceback_or_a_server_error(server: ServerProcess, http: httpx.Client) -> None:
    # Last in this module: every request above has been answered.
    assert http.get("/ping").status_code == 200
    log = server.log_text()
    assert "Traceback" not in log and " ERROR " not in log
    assert not LEAK.search("\n".join(line for line in log.splitlines() if line.startswith("{")))


# --- raw HTTP -------------------------------------------------------------------------------------


def raw_post(http: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    port = http.base_url.port
    assert port is not None
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"POST /invocations HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{head}\r\n".encode() + body
    status, payload = raw_exchange(port, request)
    return httpx.Response(status, content=payload, headers={"content-type": "application/json"})


def raw_exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send `request` (as much of it as the server takes) and read the answer: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        # Refused before the client finished sending: the answer is waiting all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        while chunk := _recv(sock):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""
