"""The model: loading it, reporting its health honestly, and serving requests with it.

Where the handler allows it (its model_fn's module sets BYOC_HANDLER_OPTIONS = {"preload": True}),
the model is loaded once in the server's main process before the workers are forked, so they
share its memory; each worker then only warms it up. Otherwise each worker loads its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from container.archives import manifest
from container.codecs import encode, mediatypes
from container.config import ServerConfig
from container.contract.context import Context
from container.contract.functions import Handler
from container.errors import DECODE, LOAD, InferenceError, ModelNotReady, NotAcceptable, error_response
from container.inference import batching, pipeline
from container.inference.runner import ModelRunner
from container.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
# Bodies up to this size are decoded on the event loop (faster than a thread hop); larger ones in a
# thread, so a big body never holds up /ping.
INLINE_DECODE_BYTES = 64 * 1024
ACCEPT_CACHE_SIZE = 256
# Batching: a request alone in its worker skips the batch path while the recent batches averaged
# under this size; each batch moves the average this far towards its own size.
LONE_BATCH_SIZE = 1.5
RECENT_BATCH_WEIGHT = 0.2


class State(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Health:
    ready: bool
    state: State
    reason: str


class _LoadFailure(pipeline.StageFailure):
    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(LOAD, error)
        self.step = step


def _public_reason(step: str, error: BaseException) -> str:
    """Why the load failed, as /ping and /invocations tell whoever asks.

    An InferenceError (or an exception that declares an HTTP status) was written to be read, so
    its message is passed on. Any other exception's text can hold paths, data or secrets, just as
    at request time (see container.errors.error_response): only its type is named here, and the
    log has the traceback.
    """
    status = getattr(error, "status_code", None)
    if isinstance(error, InferenceError) or (isinstance(status, int) and not isinstance(status, bool)):
        return error_response(error, LOAD).message
    return f"{step} raised {type(error).__name__}; the container log has the traceback"


class InferenceService:
    def __init__(self, config: ServerConfig, handler: Handler, metrics: Metrics | None = None) -> None:
        self.config = config
        self.handler = handler
        self.metrics = metrics or Metrics()
        self.state = State.LOADING
        self.failure = ""
        self.model: Any = None
        self.load_seconds: float | None = None
        self.preloaded = False
        self._runner: ModelRunner | None = None
        self._settled: asyncio.Event | None = None  # set when this worker's load ends, either way
        # Clients send the same Accept header on every request: negotiate each value once.
        self._accept_cache: dict[str | None, str] = {}
        self._requests = 0  # requests in invoke() now; only the event loop touches it
        self._recent_batch_size = 1.0  # moving average of requests per predict_fn call
        predict_fn = handler.predict_fn
        self.batching = bool(
            config.batching
            and predict_fn is not None
            and predict_fn.options.get("batchable")
            and not predict_fn.takes_context  # one call serves many requests: whose context?
        )

    @property
    def can_preload(self) -> bool:
        return self.config.preload and bool(self.handler.model_fn.options.get("preload"))

    # --- lifecycle ---

    def preload(self) -> None:
        """Load the model here and now, in the main process, before workers are forked."""
        self._load_or_fail(self._load_model)
        self.preloaded = True

    async def start(self) -> None:
        """In a worker: load (or, when preloaded, warm up) the model on the model thread.

        /ping answers 503 until this finishes.
        """
        self._runner = ModelRunner(
            max_batch_size=self.config.max_batch_size if self.batching else 1,
            max_batch_delay=self.config.max_batch_delay_seconds,
        )
        self._settled = asyncio.Event()
        if self.state is State.FAILED:
            self._settled.set()
            return
        steps = self._warm_up if self.preloaded else self._load
        self.state = State.LOADING
        try:
            await self._runner.call(self._load_or_fail, steps, timeout=None)
        finally:
            self._settled.set()
        if self.state is State.READY:
            origin = "loaded once by the main process" if self.preloaded else "loaded by this worker"
            log.info("worker ready: model %s", origin)

    def _load_or_fail(self, steps: Any) -> None:
        try:
            steps()
        except _LoadFailure as failure:
            self.state = State.FAILED
            self.failure = _public_reason(failure.step, failure.error)
            log.error(
                "the model failed to load (in %s); /ping will answer 503 until the server restarts",
                failure.step,
                exc_info=failure.error,
            )

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()

    def _load(self) -> None:
        self._load_model()
        self._warm_up()

    def _load_model(self) -> None:
        context = Context(model_dir=str(self.config.model_dir))
        model_dir = str(self.config.model_dir)
        started = time.perf_counter()
        step = "the model manifest check"  # which step failed, for the log and for /ping
        try:
            allow_mismatch = self.config.allow_version_mismatch
            for finding in manifest.check_model_dir(self.config.model_dir, allow_mismatch):
                log.warning("version mismatch: %s", finding.describe())
            if self.handler.pre_model_fn is not None:
                step = "pre_model_fn"
                self.handler.pre_model_fn(model_dir, context=context)
            step = "model_fn"
            self.model = self.handler.model_fn(model_dir, context=context)
        except (Exception, SystemExit) as exc:  # sys.exit() in model code is a failed load too
            raise _LoadFailure(step, exc) from exc
        self.load_seconds = time.perf_counter() - started
        self.metrics.model_load.set(self.load_seconds)
        log.info("model loaded in %.3f s (%s)", self.load_seconds, self.handler.describe())

    def _warm_up(self) -> None:
        # Per worker, even when the model was preloaded: warm-ups start thread pools and fill
        # caches, which belong to the process that will predict, not to the one that forks.
        if self.handler.model_warmup_fn is not None:
            context = Context(model_dir=str(self.config.model_dir))
            try:
                self.handler.model_warmup_fn(str(self.config.model_dir), self.model, context=context)
            except (Exception, SystemExit) as exc:
                raise _LoadFailure("model_warmup_fn", exc) from exc
        self.state = State.READY

    # --- health ---

    def health(self) -> Health:
        if self.state is State.READY and self._runner is not None and self._runner.needs_restart:
            return Health(False, self.state, "model calls are stuck; the worker is restarting")
        if self.state is State.READY:
            return Health(True, self.state, "")
        if self.state is State.LOADING:
            return Health(False, self.state, "the model is still loading")
        return Health(False, self.state, f"the model failed to load: {self.failure}")

    @property
    def needs_restart(self) -> bool:
        return self._runner is not None and self._runner.needs_restart

    # --- requests ---

    def choose_accept(self, header: str | None) -> str:
        """The response type for this Accept header; NotAcceptable when none can be produced."""
        chosen = self._accept_cache.get(header)
        if chosen is None:
            chosen = self._negotiate(header)
            if len(self._accept_cache) >= ACCEPT_CACHE_SIZE:
                self._accept_cache.clear()  # many distinct headers: start over rather than grow
            self._accept_cache[header] = chosen
        return chosen

    def _negotiate(self, header: str | None) -> str:
        if not self.handler.writes_own_output:
            return mediatypes.require_acceptable(header, list(encode.ENCODERS), self.config.default_accept)
        # A custom output_fn may write types the runtime does not know: hand it the client's
        # preference, and let it raise when it cannot.
        chosen = mediatypes.negotiate(header, list(encode.ENCODERS), self.config.default_accept)
        if chosen is not None:
            return chosen
        preferred = mediatypes.first_concrete(header)
        if preferred is None:
            raise NotAcceptable(f"none of the types in Accept {header!r} can be produced")
        return preferred

    async def invoke(
        self, body: bytes, headers: Mapping[str, str], accept: str, request_id: str
    ) -> tuple[pipeline.Outcome, Context]:
        self._requests += 1
        try:
            return await self._invoke(body, headers, accept, request_id)
        finally:
            self._requests -= 1

    async def _invoke(
        self, body: bytes, headers: Mapping[str, str], accept: str, request_id: str
    ) -> tuple[pipeline.Outcome, Context]:
        health = self.health()
        if health.state is State.LOADING and self._settled is not None:
            # This worker is still loading while a sibling may already answer /ping with 200: wait
            # for the load (within the request's deadline) rather than fail a request sent on time.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), self.config.timeout_seconds)
            health = self.health()
        if not health.ready:
            raise ModelNotReady(health.reason, state=health.state.value)
        assert self._runner is not None
        context = Context.for_request(str(self.config.model_dir), headers, accept, request_id)
        timeout = self.config.timeout_seconds
        if not self.batching or (self._requests == 1 and self._recent_batch_size < LONE_BATCH_SIZE):
            # A request with no company, now or lately, goes over whole in one call, as without
            # batching, so a lone request pays nothing for batching. Under load (batches lately
            # bigger than one) even a request that finds no other in flight takes the batch path:
            # its company is about to arrive, and a call of its own would only hold the batch up.
            return await self._invoke_alone(body, accept, context, timeout), context
        item = pipeline.BatchItem(await self._decode(body, context), accept, context)
        key = batching.batch_key(item.data)
        if key is None:  # not stackable (sparse, strings, 3-D...): predicted alone
            outcome = await self._runner.call(self._predict_alone, item, timeout=timeout)
        else:
            outcome = await self._runner.call_batched(self._predict_batch, item, key, timeout=timeout)
        return outcome, context

    async def _invoke_alone(
        self, body: bytes, accept: str, context: Context, timeout: float
    ) -> pipeline.Outcome:
        try:
            outcome = await self._runner.call(
                pipeline.invoke, self.handler, self.model, body, accept, context, timeout=timeout
            )
        except pipeline.StageFailure as failure:
            if failure.stage != DECODE:  # predict_fn was called (and failed, or its output did)
                self._count_batch(1)
            raise
        self._count_batch(1)
        return outcome

    def _count_batch(self, size: int) -> None:
        self.metrics.batch_size.observe(size)
        # Called from the model thread too; a float assignment is atomic, and an update lost to a
        # race only shifts the average a little.
        self._recent_batch_size += (size - self._recent_batch_size) * RECENT_BATCH_WEIGHT

    async def _decode(self, body: bytes, context: Context) -> Any:
        if len(body) <= INLINE_DECODE_BYTES:
            return pipeline.decode_request(self.handler, body, context)
        return await asyncio.to_thread(pipeline.decode_request, self.handler, body, context)

    def _predict_batch(self, items: list[pipeline.BatchItem]) -> list[tuple[bool, Any]]:
        self._count_batch(len(items))
        return pipeline.predict_batch(self.handler, self.model, items)

    def _predict_alone(self, item: pipeline.BatchItem) -> pipeline.Outcome:
        self._count_batch(1)
        ((ok, value),) = pipeline.predict_batch(self.handler, self.model, [item])
        if not ok:
            raise value
        return value
