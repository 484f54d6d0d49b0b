"""container.serving.protocol: GET /ping answered by the protocol itself, in order with the rest.

A real server on loopback, spoken to over a raw socket: pipelined requests on one connection must
get their answers in the order they were sent, whoever answers each.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from server_helpers import make_model_dir, serving

pytestmark = pytest.mark.integration

CSV_REQUEST = (
    b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 16\r\n\r\n"
    b"5.1,3.5,1.4,0.2\n"
)


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_pings_and_invocations_pipelined_on_one_connection_are_answered_in_order(
    tmp_path: Path, model_file: Path
) -> None:
    with serving(make_model_dir(tmp_path, model_file)) as server:
        answer = exchange(
            server.port,
            b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"
            + CSV_REQUEST
            + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"  # behind an answer still coming: the app's turn
            + b"GET /ping?probe=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    responses = answer.split(b"HTTP/1.1 ")[1:]
    assert [r.split(b"\r\n", 1)[0] for r in responses] == [b"200 OK"] * 4
    assert responses[0].endswith(b"content-length: 0\r\n\r\n")  # the first ping, answered first
    assert b'{"predictions":[0]' in responses[1]
    assert b"connection: close" in responses[3]


def test_a_ping_over_http_1_0_is_answered_and_closed(tmp_path: Path, model_file: Path) -> None:
    with serving(make_model_dir(tmp_path, model_file)) as server:
        answer = exchange(server.port, b"GET /ping HTTP/1.0\r\n\r\n")  # returns once the server closes
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in answer
