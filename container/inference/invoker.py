"""Serving requests with the loaded model: Accept negotiation, then the request on the model thread.

Each worker runs its model calls on one model thread (container.inference.runner). A request goes
there whole (decode, predict, encode in one call) or, when the batching policy says so, is decoded
here and joins a batch of requests whose rows share one predict_fn call.

Who batches: a predict_fn whose module declares `batchable=True` batches as it says; one whose module
says nothing is checked against the one-by-one path first (container.inference.autobatch); one that
declares `batchable=False`, takes the request's context, or BYOC_BATCHING=off, never batches.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from container.codecs import encode, mediatypes
from container.config import ServerConfig
from container.contract.context import Context
from container.contract.functions import Handler
from container.errors import ModelNotReady, NotAcceptable
from container.inference import batching, pipeline
from container.inference.autobatch import BatchChecker, Shape
from container.inference.lifecycle import ModelLifecycle
from container.inference.runner import ModelRunner
from container.telemetry.metrics import Metrics
from container.types import Outcome

# Bodies up to this size (a few rows) are decoded on the event loop, faster than a thread hop; larger
# ones in a thread. A 100-row CSV takes about a millisecond to decode: 64 of them at once on the loop
# held /ping up for tens of milliseconds.
INLINE_DECODE_BYTES = 4 * 1024
ACCEPT_CACHE_SIZE = 256


class Invoker:
    def __init__(
        self, config: ServerConfig, handler: Handler, lifecycle: ModelLifecycle, metrics: Metrics
    ) -> None:
        self.config = config
        self.handler = handler
        self.lifecycle = lifecycle
        self.metrics = metrics
        predict_fn = handler.predict_fn
        possible = bool(
            config.batching
            and predict_fn is not None
            and not predict_fn.takes_context  # one call serves many requests: whose context?
        )
        declared = predict_fn.options.batchable if predict_fn is not None else False
        # Said nothing: batched once checks show it answers alike (None when batching is not possible
        # or the module said yes or no).
        self.checker = (
            BatchChecker(predict_fn.source) if possible and declared is None and predict_fn else None
        )
        self.policy = batching.BatchPolicy(
            enabled=possible and declared is not False,
            max_batch_size=config.max_batch_size,
            max_delay_seconds=config.max_batch_delay_seconds,
        )
        self.runner: ModelRunner | None = None
        # Clients send the same Accept header on every request: negotiate each value once.
        self._accept_cache: dict[str | None, str] = {}
        self._requests = 0  # requests in invoke() now; only the event loop touches it

    # --- the worker's model thread ---

    def start_runner(self) -> ModelRunner:
        """Start this worker's model thread, shaped by the batching policy."""
        self.runner = ModelRunner(
            max_batch_size=self.policy.runner_batch_size,
            max_batch_delay=self.policy.max_delay_seconds,
        )
        return self.runner

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    @property
    def needs_restart(self) -> bool:
        return self.runner is not None and self.runner.needs_restart

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
        known = self.handler.output_types
        if known is not None:  # the runtime's encoders, or a handler's output_fn that declares its types
            return mediatypes.require_acceptable(header, list(known), self.config.default_accept)
        # A user's output_fn may write types the runtime does not know: hand it the client's
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
    ) -> tuple[Outcome, Context]:
        self._requests += 1
        try:
            return await self._invoke(body, headers, accept, request_id)
        finally:
            self._requests -= 1

    async def _invoke(
        self, body: bytes, headers: Mapping[str, str], accept: str, request_id: str
    ) -> tuple[Outcome, Context]:
        # This worker may still be loading while a sibling already answers /ping with 200: wait
        # for the load (within the request's deadline) rather than fail a request sent on time.
        await self.lifecycle.wait_until_settled(self.config.timeout_seconds)
        health = self.lifecycle.health()
        if not health.ready:
            raise ModelNotReady(health.reason, state=health.state.value)
        assert self.runner is not None
        context = Context.for_request(self.config, headers, accept, request_id)
        timeout = self.config.timeout_seconds
        model = self.lifecycle.model
        if self.checker is not None and self.checker.all_off:
            self.policy.enabled = False  # checked and refused for every kind of request: as if off
        if not self.policy.takes_batch_path(self._requests):
            outcome = await self.runner.call(
                pipeline.invoke, self.handler, model, body, accept, context, self._on_predict, timeout=timeout
            )
            return outcome, context
        item = pipeline.BatchItem(await self._decode(body, context, model, timeout), accept, context)
        key = batching.batch_key(item.data)
        if self.checker is None:
            predict = functools.partial(
                pipeline.predict_batch, self.handler, model, on_predict=self._on_predict
            )
        else:
            predict = functools.partial(
                pipeline.predict_batch_checked,
                self.handler,
                model,
                on_predict=self._on_predict,
                checker=self.checker,
            )
            self.checker.saw_input(key is not None, type(item.data).__name__)
            if key is not None:
                # Single rows and several rows are checked apart, so they are batched apart.
                shape = Shape.of(len(item.data))
                key = (*key, shape.value) if self.checker.batches(shape) else None
        if key is None:  # not stackable (sparse, strings, 3-D...) or refused: predicted alone
            ((ok, value),) = await self.runner.call(predict, [item], timeout=timeout)
            if not ok:
                raise value
            return value, context
        return await self.runner.call_batched(predict, item, key, timeout=timeout), context

    def _on_predict(self, size: int) -> None:
        """A predict_fn call served `size` requests (called on the model thread)."""
        self.metrics.batch_size.observe(size)
        self.policy.record(size)

    async def _decode(self, body: bytes, context: Context, model: Any, timeout: float | None) -> Any:
        if self.handler.reads_own_input:
            # The user's input_fn runs where the rest of their code runs, on the model thread and
            # within the request's deadline: it may not be thread-safe (a tokenizer), and one that
            # hangs must neither hold up the event loop (and /ping) nor escape the timeout.
            assert self.runner is not None
            return await self.runner.call(self._decoded_and_checked, body, context, model, timeout=timeout)
        if len(body) <= INLINE_DECODE_BYTES:
            return self._decoded_and_checked(body, context, model)
        return await asyncio.to_thread(self._decoded_and_checked, body, context, model)

    def _decoded_and_checked(self, body: bytes, context: Context, model: Any) -> Any:
        return pipeline.validate_request(
            self.handler, model, pipeline.decode_request(self.handler, body, context)
        )
