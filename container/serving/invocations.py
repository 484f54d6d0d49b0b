"""POST /invocations as a bare ASGI endpoint: the one route that carries the load.

It reads the body within the payload limit (and undoes a Content-Encoding within the same limit),
hands it to the worker's Invoker, and turns every failure into a JSON error with the right status;
a traceback goes to the log, never to the client. It speaks ASGI directly instead of going through
Starlette's request, response, routing and middleware objects: at thousands of small requests a
second those cost about as much as the rest of the request together. The other routes stay on
Starlette (see container.serving.app).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import orjson

from container.codecs import content_coding
from container.errors import (
    BadRequest,
    ErrorResponse,
    InferenceError,
    ModelNotReady,
    PayloadTooLarge,
    error_response,
)
from container.inference.invoker import Invoker
from container.inference.pipeline import StageFailure
from container.serving.protocol import CLOSED_BY_SERVER
from container.telemetry import access_log
from container.telemetry.request_ids import new_request_id
from container.types import Receive, Scope, Send

log = logging.getLogger(__name__)

JSON = "application/json"


class InvocationsEndpoint:
    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker
        self.max_payload_bytes = invoker.config.max_payload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        invoker = self.invoker
        metrics = invoker.metrics
        metrics.in_flight.inc()
        request_id = new_request_id()
        headers = request_headers(scope)
        status, body, content_type, model_seconds = 500, b"", JSON, 0.0
        failure: ErrorResponse | None = None
        extra_headers: dict[str, str] = {}
        # What the access log reports: the bytes actually read, not Content-Length, which a chunked
        # request does not have. A body refused unread counts as its declared size.
        declared = headers.get("content-length")
        bytes_in = declared_length(declared)
        try:
            accept = invoker.choose_accept(headers.get("accept"))
            payload = await read_body(receive, declared, self.max_payload_bytes)
            bytes_in = len(payload)
            encoding = headers.get("content-encoding")
            if encoding is not None:
                # Off the event loop: undoing even a small body's compression can be megabytes of work.
                payload = await asyncio.to_thread(
                    content_coding.decode_content, payload, encoding, self.max_payload_bytes
                )
            outcome, context = await invoker.invoke(payload, headers, accept, request_id)
            status, body, content_type = 200, outcome.body, outcome.content_type
            model_seconds = outcome.model_seconds
            extra_headers = context.response_headers
        except Exception as exc:
            if isinstance(exc, ClientDisconnected):
                bytes_in = exc.received
                # Or the server closed it (a read deadline, shutdown), answered and logged there.
                failure = closed_by_server(scope)
            failure = failure or describe_failure(exc, request_id)
            status, body, content_type = failure.status, orjson.dumps(failure.body()), JSON
        finally:
            metrics.in_flight.dec()  # in finally: a cancelled request must not count forever
            if invoker.needs_restart:
                _restart_worker_once()
        elapsed = time.perf_counter() - started
        overhead = max(elapsed - model_seconds, 0.0)
        metrics.observe(status, model_seconds, overhead)
        access_log.record(
            request_id=request_id,
            method="POST",
            path="/invocations",
            status=status,
            bytes_in=bytes_in,
            bytes_out=len(body),
            model_seconds=model_seconds,
            total_seconds=elapsed,
            code=failure.code if failure is not None else None,
            message=failure.message if failure is not None else None,
        )
        raw_headers = [
            (b"content-type", _with_charset(content_type).encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            (b"x-model-latency-us", str(round(model_seconds * 1e6)).encode()),
            (b"x-overhead-latency-us", str(round(overhead * 1e6)).encode()),
        ]
        for name, value in extra_headers.items():
            raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name; the first of repeated headers wins."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


async def read_body(receive: Receive, declared: str | None, limit: int | None) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes (None: no limit)."""
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise BadRequest(f"invalid Content-Length {declared!r}", code="invalid_header") from None
        if limit is not None and declared_size > limit:
            raise _too_large(declared_size, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected(size)
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise _too_large(size, limit, at_least=True)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ClientDisconnected(InferenceError):
    """The client went away before sending the whole body.

    Nobody receives the answer, and it is no fault of the server's: it must not be logged as a 500
    with a traceback, nor counted as a server error.
    """

    status_code = 499  # nginx's "client closed request"; only ever seen in the access log
    code = "client_disconnected"

    def __init__(self, received: int) -> None:
        super().__init__(f"the client disconnected after sending {received} bytes of the body")
        self.received = received


def closed_by_server(scope: Scope) -> ErrorResponse | None:
    """Why the server closed this request's connection while its body arrived (it was answered there)."""
    closed = scope.get("extensions", {}).get(CLOSED_BY_SERVER)
    if closed is None:
        return None
    status, code, message = closed
    return ErrorResponse(status, code, message)


def declared_length(declared: str | None) -> int:
    """Content-Length as a number; 0 when it is missing or not a number (read_body refuses the latter)."""
    try:
        return max(int(declared or 0), 0)
    except ValueError:
        return 0


def describe_failure(exc: Exception, request_id: str) -> ErrorResponse:
    stage = "request"
    if isinstance(exc, StageFailure):
        stage, exc = exc.stage, exc.error  # type: ignore[assignment]
    failure = error_response(exc, stage, request_id)
    # A client's mistake is told in the request's access line (its code and message): a log line of
    # its own would make a bad request cost its neighbours more than a good one.
    if isinstance(exc, ModelNotReady):
        # The model's state, already logged (with the load's traceback, if it failed) and told by
        # /ping: one line per refused request, not a traceback of this function.
        log.warning("request %s refused: %s", request_id, failure.message)
    elif failure.is_server_fault:
        log.error(
            "request %s failed in %s (%d)",
            request_id,
            stage,
            failure.status,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    return failure


def _with_charset(content_type: str) -> str:
    # As Starlette's responses do (and the other routes answer): text says its encoding.
    if content_type.startswith("text/") and "charset=" not in content_type.lower():
        return content_type + "; charset=utf-8"
    return content_type


def _too_large(size: int, limit: int, at_least: bool = False) -> PayloadTooLarge:
    amount = f"more than {limit}" if at_least else str(size)
    return PayloadTooLarge(
        f"the request body is {amount} bytes; the limit is {limit} bytes (SAGEMAKER_MAX_PAYLOAD_IN_MB)",
        limit=limit,
    )


_restart_requested = False


def _restart_worker_once() -> None:
    """Ask this worker to exit gracefully; gunicorn starts a fresh one in its place."""
    global _restart_requested
    if _restart_requested:
        return
    _restart_requested = True
    log.error("too many model calls are stuck in this worker: restarting it")
    os.kill(os.getpid(), signal.SIGTERM)
