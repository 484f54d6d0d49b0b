"""The HTTP side: the SageMaker routes, and nothing else.

POST /invocations goes straight to its bare ASGI endpoint (container.serving.invocations), which carries
the load; every other request, and the worker's start and stop, goes through a Starlette app.
/ping answers from the event loop, never queued behind a prediction: a plain GET /ping is answered
by the worker's HTTP protocol itself (container.serving.protocol) through ServerApp.ping.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from container.config import ServerConfig
from container.inference.invoker import Invoker
from container.inference.lifecycle import ModelLifecycle, ModelState
from container.serving.invocations import InvocationsEndpoint
from container.serving.streamed import StreamedInvocations
from container.telemetry import access_log, metrics
from container.telemetry.request_ids import new_request_id
from container.types import Receive, Scope, Send


class ServerApp:
    """The ASGI app gunicorn's workers run: the fast route first, Starlette for the rest."""

    def __init__(
        self,
        invocations: InvocationsEndpoint,
        starlette: Starlette,
        config: ServerConfig,
        ping: Callable[[], tuple[int, bytes]],
        streamed: StreamedInvocations | None = None,
    ) -> None:
        self.invocations = invocations
        self.starlette = starlette
        self.config = config  # what the worker's connections are held to (container.serving.protocol)
        # GET /ping's status and JSON body (empty when healthy): the protocol answers it the moment
        # its headers are read, ahead of the requests that keep the event loop busy.
        self.ping = ping
        # Only without a payload limit (SAGEMAKER_MAX_PAYLOAD_IN_MB=0): CSV / JSON Lines in pieces.
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/invocations" and scope["method"] == "POST":
            if self.streamed is not None and self.streamed.takes(scope):
                await self.streamed(scope, receive, send)
            else:
                await self.invocations(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)


def create_app(lifecycle: ModelLifecycle, invoker: Invoker) -> ServerApp:
    invocations = InvocationsEndpoint(invoker)
    config = invoker.config

    def ping_answer() -> tuple[int, bytes]:
        started = time.perf_counter()
        health = lifecycle.server_health()
        if health.ready:
            status, body = 200, b""
        else:
            code = "model_loading" if health.state is ModelState.LOADING else "model_not_ready"
            status = 503
            body = orjson.dumps({"code": code, "message": health.reason, "state": health.state.value})
        # Off by default: the platform pings every few seconds, which would drown the request lines.
        if config.access_log_pings:
            access_log.record(
                request_id=new_request_id(),
                method="GET",
                path="/ping",
                status=status,
                bytes_in=0,
                bytes_out=len(body),
                model_seconds=0.0,
                total_seconds=time.perf_counter() - started,
            )
        return status, body

    async def ping(request: Request) -> Response:
        # What reaches Starlette: a /ping the protocol did not answer itself (pipelined, in-process).
        status, body = ping_answer()
        return Response(body, status_code=status, media_type="application/json" if body else None)

    async def metrics_route(request: Request) -> Response:
        return Response(invoker.metrics.render(), media_type=metrics.CONTENT_TYPE)

    async def execution_parameters(request: Request) -> Response:
        return json_response(200, config.execution_parameters())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_worker_logging(config)
        loading = await lifecycle.start_worker(invoker.start_runner())
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()
            invoker.stop()
            access_log.flush()

    routes = [
        Route("/ping", ping, methods=["GET"]),
        # Reached only by other methods (405) and by paths the fast route does not match exactly.
        Route("/invocations", invocations, methods=["POST"]),
        Route("/execution-parameters", execution_parameters, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
    ]
    starlette = Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    streamed = StreamedInvocations(invoker) if config.max_payload_bytes is None else None
    return ServerApp(invocations, starlette, config, ping_answer, streamed)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 (and any other HTTPException) as the runtime's JSON error body."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return json_response(exc.status_code, {"code": code, "message": message}, exc.headers)


def json_response(status: int, body: dict[str, Any], headers: Any = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def configure_worker_logging(config: ServerConfig) -> None:
    logging.getLogger().setLevel(config.log_level)
