"""From a front worker to a model's workers: HTTP/1.1 over the model's Unix socket, kept alive.

A front worker forwards each POST /models/{name}/invoke to the model's socket as POST
/invocations, on a connection it keeps for the next request to the same model. The answer is
parsed with httptools (uvicorn's own parser); this runtime's answers always carry Content-Length.
A kept connection the model's worker has closed meanwhile is replaced once, transparently: nothing
of the request had reached a worker.

And to the manager: one JSON line per request, one per answer (container.multimodel.manager).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools
import orjson

MAX_IDLE_PER_MODEL = 64
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host", b"te"}
)
_SERVER_HEADERS = frozenset({b"date", b"server"})


class ModelGone(Exception):
    """The model's socket is not there (never loaded, or unloaded), or refuses connections."""


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class _Parsed:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    complete: bool = False
    keep_alive: bool = True

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> Answer:
        self.writer.write(request)
        parsed = _Parsed()
        parser = httptools.HttpResponseParser(parsed)
        received = False
        while not parsed.complete:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionResetError("the model's worker closed the connection" if received else "")
            received = True
            parser.feed_data(chunk)
        parsed.keep_alive = parser.should_keep_alive()
        answer = Answer(parser.get_status_code(), parsed.headers, b"".join(parsed.body))
        self.reusable = parsed.keep_alive
        return answer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class ModelConnections:
    """One front worker's kept connections, per model socket."""

    def __init__(self) -> None:
        self._idle: dict[Path, list[_Connection]] = {}

    async def invoke(self, socket_path: Path, headers: Iterable[tuple[bytes, bytes]], body: bytes) -> Answer:
        request = _request(headers, body)
        idle = self._idle.get(socket_path)
        if idle:
            connection = idle.pop()
            try:
                return self._keep(socket_path, connection, await connection.exchange(request))
            except (ConnectionError, httptools.HttpParserError) as exc:
                connection.close()
                if str(exc):  # part of an answer had come: the request reached a worker
                    raise
        connection = await self._connect(socket_path)
        try:
            return self._keep(socket_path, connection, await connection.exchange(request))
        except BaseException:
            connection.close()
            raise

    def forget(self, socket_path: Path) -> None:
        for connection in self._idle.pop(socket_path, []):
            connection.close()

    def close(self) -> None:
        for path in list(self._idle):
            self.forget(path)

    async def _connect(self, socket_path: Path) -> _Connection:
        try:
            reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=2**20)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            self.forget(socket_path)
            raise ModelGone(str(exc)) from exc
        return _Connection(reader, writer)

    def _keep(self, socket_path: Path, connection: _Connection, answer: Answer) -> Answer:
        idle = self._idle.setdefault(socket_path, [])
        if getattr(connection, "reusable", False) and len(idle) < MAX_IDLE_PER_MODEL:
            idle.append(connection)
        else:
            connection.close()
        return answer


def _request(headers: Iterable[tuple[bytes, bytes]], body: bytes) -> bytes:
    lines = [b"POST /invocations HTTP/1.1", b"host: model", b"content-length: " + str(len(body)).encode()]
    lines += [name + b": " + value for name, value in headers if name.lower() not in _HOP_BY_HOP]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def response_headers(answer: Answer) -> list[tuple[bytes, bytes]]:
    """The model's answer's headers a client should get (the framing ones are the front's own)."""
    dropped = _HOP_BY_HOP | _SERVER_HEADERS
    return [(name, value) for name, value in answer.headers if name not in dropped]


# --- the manager ------------------------------------------------------------------------------


async def ask_manager(
    control_path: Path, request: dict[str, Any], timeout: float
) -> tuple[int, dict[str, Any]]:
    """One request to the manager; (status, body). ConnectionError when it does not answer."""
    reader, writer = await asyncio.open_unix_connection(str(control_path), limit=2**20)
    try:
        writer.write(orjson.dumps(request) + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not line:
        raise ConnectionError("the model manager closed the connection without an answer")
    answer = orjson.loads(line)
    return int(answer["status"]), answer["body"]
