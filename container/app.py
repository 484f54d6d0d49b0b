"""The HTTP side: a Starlette app with the SageMaker routes, and nothing else.

/ping answers from the event loop, never queued behind a prediction. /invocations reads the body
within the payload limit, hands it to the worker's InferenceService, and turns every failure into
a JSON error with the right status; a traceback goes to the log, never to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from container import access_log, metrics
from container.config import ServerConfig
from container.errors import (
    BadRequest,
    ErrorResponse,
    InferenceError,
    PayloadTooLarge,
    error_response,
)
from container.pipeline import StageFailure
from container.service import InferenceService

log = logging.getLogger(__name__)

REQUEST_ID = "X-Request-Id"
MODEL_LATENCY = "X-Model-Latency-Us"
OVERHEAD_LATENCY = "X-Overhead-Latency-Us"


def create_app(service: InferenceService) -> Starlette:
    config = service.config

    async def ping(request: Request) -> Response:
        started = time.perf_counter()
        health = service.health()
        if health.ready:
            response = Response(status_code=200)
        else:
            code = "model_loading" if health.state.value == "loading" else "model_not_ready"
            body = {"code": code, "message": health.reason, "state": health.state.value}
            response = json_response(503, body)
        # Off by default: the platform pings every few seconds, which would drown the request lines.
        if config.access_log_pings:
            access_log.record(
                request_id=uuid.uuid4().hex,
                method=request.method,
                path="/ping",
                status=response.status_code,
                bytes_in=0,
                bytes_out=len(response.body),
                model_seconds=0.0,
                total_seconds=time.perf_counter() - started,
            )
        return response

    async def metrics_route(request: Request) -> Response:
        return Response(service.metrics.render(), media_type=metrics.CONTENT_TYPE)

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        service.metrics.in_flight.inc()
        request_id = uuid.uuid4().hex
        status, body, headers, model_seconds = 500, b"", {}, 0.0
        content_type = "application/json"
        # What the access log reports: the bytes actually read, not Content-Length, which a chunked
        # request does not have. A body refused unread counts as its declared size.
        bytes_in = _declared_length(request)
        try:
            accept = service.choose_accept(request.headers.get("accept"))
            payload = await read_body(request, config.max_payload_bytes)
            bytes_in = len(payload)
            outcome, context = await service.invoke(payload, request.headers, accept, request_id)
            status, body, content_type = 200, outcome.body, outcome.content_type
            model_seconds = outcome.model_seconds
            headers.update(context.response_headers)
        except Exception as exc:
            if isinstance(exc, ClientDisconnected):
                bytes_in = exc.received
            failure = describe_failure(exc, request_id)
            status, body = failure.status, orjson.dumps(failure.body())
        finally:
            service.metrics.in_flight.dec()  # in finally: a cancelled request must not count forever
            if service.needs_restart:
                _restart_worker_once()
        elapsed = time.perf_counter() - started
        overhead = max(elapsed - model_seconds, 0.0)
        headers[REQUEST_ID] = request_id
        headers[MODEL_LATENCY] = str(round(model_seconds * 1e6))
        headers[OVERHEAD_LATENCY] = str(round(overhead * 1e6))
        service.metrics.observe(status, model_seconds, overhead)
        access_log.record(
            request_id=request_id,
            method="POST",
            path="/invocations",
            status=status,
            bytes_in=bytes_in,
            bytes_out=len(body),
            model_seconds=model_seconds,
            total_seconds=elapsed,
        )
        return Response(body, status_code=status, headers=headers, media_type=content_type)

    async def execution_parameters(request: Request) -> Response:
        return json_response(200, config.execution_parameters())

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return json_response(exc.status_code, {"code": code, "message": message}, exc.headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_worker_logging(config)
        if service.preloaded:
            # The model is already here (loaded before the fork): finish the warm-up before this
            # worker accepts its first connection, so it never answers 503 beside ready siblings.
            await service.start()
            loading = None
        else:
            # Loading may take minutes: accept connections meanwhile and answer /ping with 503.
            loading = asyncio.create_task(service.start())
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()
            service.stop()

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/execution-parameters", execution_parameters, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise BadRequest(f"invalid Content-Length {declared!r}", code="invalid_header") from None
        if declared_size > limit:
            raise _too_large(declared_size, limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit, at_least=True)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected(size) from None
    return b"".join(chunks)


class ClientDisconnected(InferenceError):
    """The client went away before sending the whole body.

    Nobody receives the answer, and it is no fault of the server's: without this, Starlette's
    ClientDisconnect would be logged as a 500 with a traceback and counted as a server error.
    """

    status_code = 499  # nginx's "client closed request"; only ever seen in the access log
    code = "client_disconnected"

    def __init__(self, received: int) -> None:
        super().__init__(f"the client disconnected after sending {received} bytes of the body")
        self.received = received


def _declared_length(request: Request) -> int:
    """Content-Length as a number; 0 when it is missing or not a number (read_body refuses the latter)."""
    try:
        return max(int(request.headers.get("content-length") or 0), 0)
    except ValueError:
        return 0


def describe_failure(exc: Exception, request_id: str) -> ErrorResponse:
    stage = "request"
    if isinstance(exc, StageFailure):
        stage, exc = exc.stage, exc.error  # type: ignore[assignment]
    failure = error_response(exc, stage, request_id)
    if failure.is_server_fault:
        log.error(
            "request %s failed in %s (%d)",
            request_id,
            stage,
            failure.status,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    else:
        log.info("request %s: %d %s: %s", request_id, failure.status, failure.code, failure.message)
    return failure


def json_response(status: int, body: dict[str, Any], headers: Any = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def configure_worker_logging(config: ServerConfig) -> None:
    logging.getLogger().setLevel(config.log_level)


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
