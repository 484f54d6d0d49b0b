"""The front in multi-model mode: SageMaker's multi-model routes, in each front worker.

Contract: "Custom Containers Contract for Multi-Model Endpoints"
(https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html):

    POST   /models                {"model_name", "url"}: load (409 loaded, 404 no such url, 507 memory)
    GET    /models                [?limit=&next_page_token=]: {"models": [...], "nextPageToken"?}
    GET    /models/{name}         {"modelName", "modelUrl", ...}; 404 when not loaded
    DELETE /models/{name}         unload; answered once its memory is free; 404 when not loaded
    POST   /models/{name}/invoke  the prediction; 404 when not loaded
    GET    /ping                  200 while the server runs, with or without models

Loading, unloading, listing and describing are the manager's (container.multimodel.manager). An
invocation goes straight to the model's own workers over its socket (container.multimodel.proxy),
without the manager: the socket is there exactly while the model is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from container.config import ServerConfig
from container.errors import ErrorResponse
from container.headers import TARGET_MODEL
from container.multimodel import catalog
from container.multimodel.proxy import ModelConnections, ModelGone, ask_manager, response_headers
from container.serving.app import configure_worker_logging, http_error, json_response
from container.serving.invocations import describe_failure, read_body
from container.telemetry import metrics
from container.telemetry.request_ids import new_request_id
from container.types import Receive, Scope, Send

log = logging.getLogger(__name__)

INVOKE_PREFIX = "/models/"
INVOKE_SUFFIX = "/invoke"
JSON = b"application/json"


class MultiModelApp:
    """The ASGI app of a front worker: invocations first, Starlette for the rest."""

    def __init__(self, config: ServerConfig, run_dir: Path, manager_pid: int) -> None:
        self.config = config
        self.run_dir = run_dir
        self.control = run_dir / "control.sock"
        self.manager_pid = manager_pid
        self.connections = ModelConnections()
        self._cache: metrics.ModelCacheMetrics | None = None  # made in the worker, after the fork
        self.starlette = self._routes()

    @property
    def cache_metrics(self) -> metrics.ModelCacheMetrics:
        if self._cache is None:
            self._cache = metrics.ModelCacheMetrics()
        return self._cache

    def ping(self) -> tuple[int, bytes]:
        """GET /ping's status and body (the worker's protocol answers it as soon as it is read):
        200 while the server runs, with or without models; 503 once the manager has stopped."""
        if not _alive(self.manager_pid):
            body = {"code": "model_not_ready", "message": "the model manager has stopped", "state": "failed"}
            return 503, orjson.dumps(body)
        return 200, b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and path.startswith(INVOKE_PREFIX)
            and path.endswith(INVOKE_SUFFIX)
        ):
            await self.invoke(path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)], scope, receive, send)
        else:
            await self.starlette(scope, receive, send)

    # --- invocations -----------------------------------------------------------------------------

    async def invoke(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        if "/" in name or not name:  # no model has such a name (POST /models refuses it)
            await _send_json(send, 404, _not_loaded(name))
            return
        headers = scope["headers"]
        declared = next((v.decode("latin-1") for k, v in headers if k.lower() == b"content-length"), None)
        try:
            body = await read_body(receive, declared, self.config.max_payload_bytes)
            answer = await self.connections.invoke(self.run_dir / catalog.socket_name(name), headers, body)
        except ModelGone:
            self.cache_metrics.misses.labels(name).inc()
            await _send_json(send, 404, _not_loaded(name))
            return
        except (ConnectionError, OSError) as exc:
            # The model's worker went away mid-request (its model is being unloaded, or it died).
            log.warning("model %s: its worker failed the request: %r", name, exc)
            body = {"code": "model_not_ready", "message": f"model {name} could not serve the request"}
            await _send_json(send, 503, body)
            return
        except Exception as exc:  # a client's bad body (413, 400), or a fault of ours (logged)
            failure: ErrorResponse = describe_failure(exc, new_request_id())
            await _send_json(send, failure.status, failure.body())
            return
        self.cache_metrics.hits.labels(name).inc()
        raw_headers = [(b"content-length", str(len(answer.body)).encode()), *response_headers(answer)]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})

    # --- the other routes -------------------------------------------------------------------------

    def _routes(self) -> Starlette:
        config = self.config

        async def ping(request: Request) -> Response:
            status, body = self.ping()
            return Response(body, status_code=status, media_type="application/json" if body else None)

        async def load(request: Request) -> Response:
            raw = await request.body()
            document: Any = dict(request.query_params)
            if raw.strip():
                try:
                    document = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    return _json(400, _invalid_request(f"the body is not JSON: {exc}"))
                if not isinstance(document, dict):
                    return _json(400, _invalid_request("the body must be a JSON object"))
            target = request.headers.get(TARGET_MODEL)
            request_body = {"op": "load", **document, "target_model": target}
            return await self._ask(request_body, timeout=config.startup_timeout_seconds + 30)

        async def list_models(request: Request) -> Response:
            query = request.query_params
            token = query.get("next_page_token")
            return await self._ask({"op": "list", "limit": query.get("limit"), "next_page_token": token}, 30)

        async def describe(request: Request) -> Response:
            return await self._ask({"op": "describe", "model_name": request.path_params["name"]}, timeout=30)

        async def unload(request: Request) -> Response:
            name = request.path_params["name"]
            self.connections.forget(self.run_dir / catalog.socket_name(name))
            return await self._ask({"op": "unload", "model_name": name}, timeout=config.timeout_seconds + 60)

        async def invocations(request: Request) -> Response:
            message = (
                "this container serves several models (SAGEMAKER_MULTI_MODEL=true): "
                "predictions go to POST /models/{name}/invoke"
            )
            return _json(400, {"code": "multi_model_mode", "message": message})

        async def metrics_route(request: Request) -> Response:
            return Response(metrics.render(self.cache_metrics._registry), media_type=metrics.CONTENT_TYPE)

        async def execution_parameters(request: Request) -> Response:
            return json_response(200, config.execution_parameters())

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            configure_worker_logging(config)
            try:
                yield
            finally:
                self.connections.close()

        routes = [
            Route("/ping", ping, methods=["GET"]),
            Route("/models", load, methods=["POST"]),
            Route("/models", list_models, methods=["GET"]),
            Route("/models/{name}", describe, methods=["GET"]),
            Route("/models/{name}", unload, methods=["DELETE"]),
            Route("/models/{name}/invoke", self._invoke_route, methods=["POST"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/execution-parameters", execution_parameters, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
        ]
        return Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)

    async def _invoke_route(self, request: Request) -> Response:
        # Reached only by paths the fast route does not take (a name with '/' in it).
        return _json(404, _not_loaded(request.path_params["name"]))

    async def _ask(self, request: dict[str, Any], timeout: float) -> Response:
        started = time.perf_counter()
        try:
            status, body = await ask_manager(self.control, request, timeout)
        except (OSError, ConnectionError, TimeoutError) as exc:
            log.error("the model manager did not answer %s: %r", request.get("op"), exc)
            body = {"code": "model_manager_unavailable", "message": "the model manager did not answer"}
            return _json(503, body)
        log.debug("%s answered %d in %.3f s", request.get("op"), status, time.perf_counter() - started)
        return _json(status, body)


def _not_loaded(name: str) -> dict[str, str]:
    return {"code": "model_not_loaded", "message": f"model {name} is not loaded"}


def _invalid_request(message: str) -> dict[str, str]:
    return {"code": "invalid_model_request", "message": message}


def _json(status: int, body: dict[str, Any]) -> Response:
    return json_response(status, body)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = orjson.dumps(body)
    headers = [(b"content-type", JSON), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
