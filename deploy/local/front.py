"""The front of a local endpoint: the SageMaker Runtime API on a loopback port, over the containers.

A small ASGI app (Starlette, run by uvicorn) in a daemon process per endpoint, started by
`byoc local up` with `python -m deploy.local.front STATE_FILE`:

    POST /endpoints/NAME/invocations    InvokeEndpoint: round-robin over healthy instances (for a
                                        multi-model endpoint, TargetModel routed by deploy.local.multimodel)
    POST /endpoints/NAME/async-invocations  InvokeEndpointAsync, for an endpoint started with
                                        --async-output (deploy.async_inference.service): 202 at
                                        once, the request queued, its result or error to S3
    GET  /_byoc/status                  instances, health, in-flight requests
    GET  /_byoc/metrics                 Invocations, ModelLatency, OverheadLatency, 4xx, 5xx
    POST /_byoc/instances               (token) blue/green: new instances in, old ones drained

Instances are pinged every BYOC_LOCAL_HEALTH_INTERVAL seconds (default 1): one that refuses
connections leaves the rotation at once, one whose /ping fails twice in a row too; it comes back
when /ping answers 200 again. A request whose connection to an instance fails is retried once on
another healthy instance.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from container.headers import TARGET_MODEL
from deploy.async_inference.requests import MAX_INLINE_BODY_BYTES, RequestError
from deploy.async_inference.service import AsyncEndpointConfig, AsyncService
from deploy.local import wire
from deploy.local.front_api import INSTANCES_PATH, METRICS_PATH, STATUS_PATH, TOKEN_HEADER
from deploy.local.metrics import Counters, latencies
from deploy.local.multimodel import MultiModelRouter, TargetModelError, check_target
from deploy.local.pool import Instance, Pool
from deploy.local.state import EndpointState

log = logging.getLogger("byoc.local.front")

HEALTH_INTERVAL_ENV = "BYOC_LOCAL_HEALTH_INTERVAL"
INVOCATION_TIMEOUT_SECONDS = 60.0  # SageMaker's real-time limit
PING_TIMEOUT_SECONDS = 2.0
# Failures that happen before the container has seen the request: safe to send it elsewhere.
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class Front:
    def __init__(
        self,
        name: str,
        token: str,
        instances: list[Instance],
        *,
        health_interval: float = 1.0,
        invocation_timeout: float = INVOCATION_TIMEOUT_SECONDS,
        state_path: Path | None = None,
        async_config: AsyncEndpointConfig | None = None,
        multi_model: MultiModelRouter | None = None,
    ) -> None:
        self.name = name
        self.multi_model = multi_model
        # The endpoint's state file: when it is gone (its home was deleted), nothing can stop this
        # front any more, so it stops itself (`on_orphaned`, set by main to end the server).
        self.state_path = state_path
        self.on_orphaned: Callable[[], None] | None = None
        self.token = token
        self.pool = Pool.of(instances)
        self.counters = Counters()
        self.health_interval = health_interval
        self.invocation_timeout = invocation_timeout
        self.client: httpx.AsyncClient | None = None
        self.started = time.time()
        self._swap_lock = asyncio.Lock()
        # An async endpoint answers InvokeEndpointAsync only (AsyncInferenceConfig, API reference).
        self.asynchronous = (
            AsyncService(
                async_config, instances=lambda: len(self.pool.healthy()), pick=self.pool.pick, use=_in_flight
            )
            if async_config is not None
            else None
        )

    # --- ASGI -------------------------------------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route("/endpoints/{name}/invocations", self.invoke, methods=["POST"]),
            Route("/endpoints/{name}/async-invocations", self.invoke_async, methods=["POST"]),
            Route("/endpoints/{name}/invocations-response-stream", self.unsupported, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["GET"]),
            Route(METRICS_PATH, self.metrics, methods=["GET"]),
            Route(INSTANCES_PATH, self.swap, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=self.lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # trust_env=False: loopback traffic never goes through a proxy from the environment.
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=5)
        self.client = httpx.AsyncClient(trust_env=False, limits=limits)
        await self.check_all()
        tasks = [asyncio.create_task(self.health_loop())]
        if self.asynchronous is not None:
            tasks.append(asyncio.create_task(self.asynchronous.run(self.client)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.asynchronous is not None:
                await self.asynchronous.stop()
            await self.client.aclose()

    # --- health -----------------------------------------------------------------------------
    async def check(self, instance: Instance) -> bool:
        assert self.client is not None
        fatal = False
        try:
            response = await self.client.get(f"{instance.url}/ping", timeout=PING_TIMEOUT_SECONDS)
            ok, error = response.status_code == 200, f"/ping answered {response.status_code}"
        except httpx.ConnectError as exc:
            ok, error, fatal = False, f"connection failed: {exc}", True
        except httpx.HTTPError as exc:
            ok, error = False, f"/ping failed: {exc!r}"
        if self.pool.mark(instance.id, ok, error, fatal=fatal):
            state = "back in rotation" if ok else f"out of rotation ({error})"
            log.warning("instance %s (%s) %s", instance.id[:12], instance.url, state)
        return ok

    async def check_all(self) -> None:
        instances = self.pool.all()
        if instances:
            await asyncio.gather(*(self.check(instance) for instance in instances))

    async def health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            if self.state_path is not None and not self.state_path.exists() and self.on_orphaned:
                log.warning("%s is gone: the front of %s stops", self.state_path, self.name)
                self.on_orphaned()
                return
            try:
                await self.check_all()
            except Exception:  # the loop must outlive any one bad check
                log.exception("health check failed")

    # --- InvokeEndpoint ---------------------------------------------------------------------
    async def invoke(self, request: Request) -> Response:
        started = time.perf_counter()
        name = request.path_params["name"]
        if name != self.name:
            return _reply(wire.endpoint_not_found(name))
        if self.asynchronous is not None:
            return _reply(
                wire.validation_error(
                    f"Endpoint {self.name} is an asynchronous endpoint: it takes InvokeEndpointAsync only."
                )
            )
        body = await request.body()
        problem = wire.validate_request(request.headers, len(body))
        if problem:
            return _reply(wire.validation_error(problem))
        headers = wire.container_request_headers(request.headers)
        target = None
        if self.multi_model is not None:
            try:
                target = check_target(request.headers.get(TARGET_MODEL))
            except TargetModelError as exc:
                return _reply(wire.validation_error(str(exc)))
        tried: list[str] = []
        last_error = "no instance is healthy"
        for _ in range(2):  # the first healthy instance, and one retry on another
            instance = self.pool.pick(exclude=tried)
            if instance is None:
                break
            tried.append(instance.id)
            assert self.client is not None
            instance.in_flight += 1
            sent = time.perf_counter()
            timeout = httpx.Timeout(self.invocation_timeout, connect=2.0)
            try:
                if self.multi_model is not None and target is not None:
                    answer = await self.multi_model.invoke(
                        self.client, instance.url, target, body, headers, timeout
                    )
                else:
                    answer = await self.client.post(
                        f"{instance.url}/invocations", content=body, headers=headers, timeout=timeout
                    )
            except TargetModelError as exc:
                self.counters.record(exc.status, None, None)
                if exc.code == "ModelError":  # the container's refusal, as InvokeEndpoint reports one
                    return _reply(
                        wire.model_error(self.name, exc.status, str(exc).encode(), hint=_hint(instance))
                    )
                return _reply(wire.error(exc.code, exc.status, str(exc)))
            except RETRYABLE as exc:
                self.pool.mark(instance.id, False, f"request failed: {exc!r}", fatal=True)
                log.warning("instance %s failed a request (%r); retrying elsewhere", instance.id[:12], exc)
                last_error = f"instance {instance.id[:12]} failed: {exc!r}"
                continue
            except httpx.TimeoutException:
                self.counters.record(504, None, None)
                return _reply(wire.model_timeout(self.name, self.invocation_timeout, hint=_hint(instance)))
            except httpx.HTTPError as exc:
                self.counters.record(500, None, None)
                return _reply(
                    wire.internal_failure(f"the request to instance {instance.id[:12]} failed: {exc!r}")
                )
            finally:
                instance.in_flight -= 1
            instance.served += 1
            round_trip_us = (time.perf_counter() - sent) * 1e6
            total_us = (time.perf_counter() - started) * 1e6
            model_us, overhead_us = latencies(dict(answer.headers), round_trip_us, total_us)
            self.counters.record(answer.status_code, model_us, overhead_us)
            if answer.status_code >= 400:
                return _reply(
                    wire.model_error(self.name, answer.status_code, answer.content, hint=_hint(instance))
                )
            return Response(answer.content, status_code=200, headers=wire.response_headers(answer.headers))
        self.counters.record(503, None, None)
        return _reply(
            wire.service_unavailable(f"Endpoint {self.name} has no healthy instance: {last_error}.")
        )

    # --- InvokeEndpointAsync ----------------------------------------------------------------
    async def invoke_async(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name != self.name:
            return _reply(wire.endpoint_not_found(name))
        if self.asynchronous is None:
            return _reply(
                wire.validation_error(
                    f"Endpoint {self.name} is not an asynchronous endpoint: start it with --async-output "
                    "(byoc local up) to call InvokeEndpointAsync."
                )
            )
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > MAX_INLINE_BODY_BYTES:
            return _reply(
                wire.validation_error(
                    f"Request payload size ({declared} bytes) exceeds the limit of {MAX_INLINE_BODY_BYTES} "
                    "bytes for an inline Body: put the input in S3 and pass InputLocation."
                )
            )
        body = await request.body()
        try:
            status, headers, document = self.asynchronous.accept(dict(request.headers), body)
        except RequestError as exc:
            return _reply(wire.validation_error(str(exc)))
        return JSONResponse(document, status_code=status, headers=headers)

    async def unsupported(self, request: Request) -> Response:
        return _reply(
            wire.validation_error(f"{request.url.path.rsplit('/', 1)[-1]} is not supported by byoc local.")
        )

    # --- administration ---------------------------------------------------------------------
    async def status(self, request: Request) -> Response:
        return JSONResponse(
            {
                "name": self.name,
                "pid": os.getpid(),
                "started": self.started,
                "healthy": len(self.pool.healthy()),
                "instances": [instance.as_dict() for instance in self.pool.active],
                "retired": [instance.as_dict() for instance in self.pool.retired],
                **({"async": self.asynchronous.snapshot()} if self.asynchronous is not None else {}),
            }
        )

    async def metrics(self, request: Request) -> Response:
        snapshot = self.counters.snapshot()
        if self.multi_model is not None:
            snapshot.update(self.multi_model.snapshot())
        return JSONResponse(
            {
                "name": self.name,
                "metrics": snapshot,
                "per_instance": {instance.id: instance.served for instance in self.pool.all()},
            }
        )

    async def swap(self, request: Request) -> Response:
        """Blue/green: the new instances must answer /ping; then they take all new requests, and
        this answers once the old ones have finished their requests in flight (or `drain_timeout`)."""
        if not hmac.compare_digest(request.headers.get(TOKEN_HEADER, ""), self.token):
            return JSONResponse({"message": "forbidden"}, status_code=403)
        try:
            document = json.loads(await request.body())
            new = [Instance(id=str(item["id"]), url=str(item["url"])) for item in document["instances"]]
            drain_timeout = float(document.get("drain_timeout", 60))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"message": f"malformed request: {exc!r}"}, status_code=400)
        async with self._swap_lock:
            self.pool.retired.extend(new)  # known (and checked) before they are in rotation
            checks = await asyncio.gather(*(self.check(instance) for instance in new))
            self.pool.forget(new)
            if not all(checks):
                failing = [instance.as_dict() for instance, ok in zip(new, checks, strict=True) if not ok]
                return JSONResponse({"message": "new instances are not healthy", "failing": failing}, 409)
            old = self.pool.replace(new)
            log.warning("traffic switched to %s", ", ".join(instance.id[:12] for instance in new))
            deadline = time.monotonic() + drain_timeout
            while self.pool.draining(old) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            left = self.pool.draining(old)
            self.pool.forget(old)
        return JSONResponse(
            {"retired": [instance.id for instance in old], "drained": left == 0, "in_flight": left}
        )


@contextlib.contextmanager
def _in_flight(instance: Instance) -> Iterator[None]:
    """An async request on `instance`: counted in flight (a blue/green swap waits for it), then served."""
    instance.in_flight += 1
    try:
        yield
    finally:
        instance.in_flight -= 1
        instance.served += 1


def _hint(instance: Instance) -> str:
    return f"See `docker logs {instance.id[:12]}` for more information."


def _reply(answer: tuple[int, dict[str, str], bytes]) -> Response:
    status, headers, body = answer
    return Response(body, status_code=status, headers=headers)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m deploy.local.front")
    parser.add_argument("state", type=Path, help="the endpoint's state file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    state = EndpointState.from_dict(json.loads(args.state.read_text()))
    front = Front(
        state.name,
        state.token,
        [Instance(id=record.container, url=record.url) for record in state.instances],
        health_interval=float(os.environ.get(HEALTH_INTERVAL_ENV, "1") or 1),
        state_path=args.state.resolve(),
        async_config=AsyncEndpointConfig.from_dict(state.async_config) if state.async_config else None,
        multi_model=(
            MultiModelRouter(state.model_data_prefix, Path(state.model_dir), state.model_cache)
            if state.multi_model
            else None
        ),
    )
    config = uvicorn.Config(
        front.app(),
        host="127.0.0.1",
        port=state.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    log.warning("front of %s listening on 127.0.0.1:%d (pid %d)", state.name, state.port, os.getpid())
    server = uvicorn.Server(config)

    def orphaned() -> None:
        server.should_exit = True

    front.on_orphaned = orphaned
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
