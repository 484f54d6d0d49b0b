"""What one connection may cost a worker: header section, time to send a request, open connections.

Real servers on loopback, spoken to over raw sockets (a hostile client does not use a polite HTTP
library). No test asserts a duration: a request left incomplete is closed by the server at some
point after the read timeout, and the tests wait (bounded) for that event.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import access_lines, make_model_dir, serving, wait_until, worker_pids

from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
PING = b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
# A request whose body stops after 10 of the 1000 bytes it declares.
STALLED_UPLOAD = (
    b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\n"
    b"5.1,3.5,1."
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("limits"), model_file)


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def status_of(data: bytes) -> int | None:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send as much of `data` as the server takes before it closes."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for start in range(0, len(data), 65536):
            sock.sendall(data[start : start + 65536])


def ping(server: ServerProcess) -> int | None:
    with connect(server) as sock:
        sock.sendall(PING)
        return status_of(answer(sock))


# --- the header section ------------------------------------------------------------------------


def test_header_limits_are_configurable_and_answered_with_431(model_dir: Path) -> None:
    env = {"BYOC_MAX_HEADER_BYTES": "4096", "BYOC_MAX_HEADERS": "10"}
    with serving(model_dir, env=env) as server:
        for extra, status in [
            (b"X-A: " + b"a" * 3000 + b"\r\n", 200),  # under 4096 bytes
            (b"X-A: " + b"a" * 5000 + b"\r\n", 431),
            (b"".join(b"X-%d: 1\r\n" % n for n in range(8)), 200),  # 9 headers with Host
            (b"".join(b"X-%d: 1\r\n" % n for n in range(10)), 431),  # 11
        ]:
            with connect(server) as sock:
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + b"\r\n")
                data = answer(sock)
            assert status_of(data) == status, data[:200]
            if status == 431:
                assert b'"code":"header_section_too_large"' in data and b"BYOC_MAX_HEADER_BYTES" in data
        assert "with a header section over the limit (431)" in server.log_text()


def test_a_worker_does_not_keep_what_a_client_sends_as_headers(model_dir: Path) -> None:
    """8 connections each try to send 16 MiB of one header line: each is refused after the limit
    (64 KiB), so the worker's memory does not grow with what was sent (it did, byte for byte)."""
    with serving(model_dir) as server:
        (worker,) = worker_pids(server.process.pid)  # type: ignore[union-attr]
        assert ping(server) == 200
        before = rss_kib(worker)
        sockets = [connect(server) for _ in range(8)]
        line = b"POST /invocations HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (16 * MIB)
        try:
            for sock in sockets:
                send_all(sock, line)
            answers = [answer(sock) for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        assert all(status_of(data) == 431 for data in answers)
        growth_mib = (rss_kib(worker) - before) / 1024
        assert growth_mib < 32, f"the worker grew by {growth_mib:.1f} MiB for 128 MiB of headers sent"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


# --- requests that never finish arriving ----------------------------------------------------------


@pytest.fixture(scope="module")
def impatient(model_dir: Path) -> Iterator[ServerProcess]:
    """A server that gives a request 1 s to arrive whole."""
    with serving(model_dir, env={"BYOC_REQUEST_READ_TIMEOUT": "1"}) as server:
        yield server


@pytest.mark.parametrize(
    "partial",
    [
        b"",  # connects, sends nothing
        b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Ty",  # half the headers
        STALLED_UPLOAD,
    ],
    ids=["nothing", "half the headers", "10 of 1000 body bytes"],
)
def test_a_request_that_stops_arriving_is_answered_408_and_closed(
    impatient: ServerProcess, partial: bytes
) -> None:
    with connect(impatient) as sock:
        sock.sendall(partial)
        data = answer(sock)  # returns once the server closes the connection
    assert status_of(data) == 408, data[:200]
    assert b'"code":"request_timeout"' in data and b"BYOC_REQUEST_READ_TIMEOUT" in data


def test_stalled_requests_are_logged_and_counted(impatient: ServerProcess) -> None:
    with connect(impatient) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 99\r\n\r\n1"
        )
        answer(sock)
    wait_until(
        lambda: "whose request did not arrive whole in time (408)" in impatient.log_text(), "the log line"
    )
    # The request whose body stalled has its access line, with the status it was answered with.
    timed_out = [line for line in access_lines(impatient) if line["status"] == 408]
    assert timed_out and timed_out[-1]["code"] == "request_timeout"


def test_ping_answers_while_stalled_connections_fill_the_worker(model_dir: Path) -> None:
    """A slowloris: 4 times as many half-sent requests as the worker keeps connections. New
    connections make room by closing the stalest incomplete ones, so /ping keeps answering."""
    with serving(model_dir, env={"BYOC_MAX_CONNECTIONS": "50"}) as server:
        held = hold_half_sent(server, 200)
        try:
            assert [ping(server) for _ in range(5)] == [200] * 5
            closed = [sock for sock in held if not still_waiting(sock)]
            assert len(closed) >= 150  # at most 50 stay open, minus the room the pings took
            assert "closed to make room for new connections (stalest first)" in server.log_text()
        finally:
            for sock in held:
                sock.close()


def test_the_connection_cap_stays_below_the_file_descriptor_limit(model_dir: Path, tmp_path: Path) -> None:
    """With 128 descriptors (hard limit) and 300 half-sent requests, /ping still answers: the cap
    is taken below the limit, so the worker never runs out of descriptors to accept with."""
    python = tmp_path / "python-128-files"
    python.write_text(f'#!/bin/sh\nulimit -n 128\nexec {sys.executable} "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    with ServerProcess(model_dir, python=str(python)) as server:
        server.wait_until_ready(timeout=60)
        held = hold_half_sent(server, 300)
        try:
            assert [ping(server) for _ in range(5)] == [200] * 5
        finally:
            for sock in held:
                sock.close()


def hold_half_sent(server: ServerProcess, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        sock = connect(server)
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Ty")
        held.append(sock)
    return held


def still_waiting(sock: socket.socket) -> bool:
    """Neither answered nor closed by the server yet."""
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def test_sigterm_does_not_wait_for_a_stalled_upload(model_dir: Path) -> None:
    """An upload that stalls (10 of 1000 bytes) holds no worker's exit: once stopping, the worker
    answers it 503 and exits cleanly, before gunicorn's graceful timeout would have killed it."""
    with serving(model_dir) as server:  # the default read timeout (30 s) is longer than the grace
        sock = connect(server)
        sock.sendall(STALLED_UPLOAD)
        wait_until(lambda: ping(server) == 200, "the server to answer beside the stalled upload")
        os.kill(server.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
        data = answer(sock)
        sock.close()
        assert status_of(data) == 503 and b'"code":"shutting_down"' in data
        assert server.wait_for_exit(timeout=60) == 0
        log = server.log_text()
        assert "whose request stalled while the worker was stopping" in log
        assert "SIGKILL" not in log and "Cancel" not in log
