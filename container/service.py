"""A worker's model: loading it, reporting its health honestly, and serving requests with it."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from container import encode, mediatypes, pipeline
from container.config import ServerConfig
from container.context import Context
from container.errors import LOAD, ModelNotReady, NotAcceptable
from container.handler import Handler
from container.runner import ModelRunner

log = logging.getLogger(__name__)


class State(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Health:
    ready: bool
    state: State
    reason: str


class InferenceService:
    def __init__(self, config: ServerConfig, handler: Handler) -> None:
        self.config = config
        self.handler = handler
        self.state = State.LOADING
        self.failure = ""
        self.model: Any = None
        self.load_seconds: float | None = None
        self._runner: ModelRunner | None = None

    # --- lifecycle ---

    async def start(self) -> None:
        """Load the model on the model thread; /ping answers 503 until this finishes."""
        self._runner = ModelRunner()
        try:
            await self._runner.call(self._load, timeout=None)
        except pipeline.StageFailure as failure:
            self.state = State.FAILED
            self.failure = f"{failure.error.__class__.__name__}: {failure.error}"
            log.error(
                "the model failed to load; /ping will answer 503 until the server restarts",
                exc_info=failure.error,
            )

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()

    def _load(self) -> None:
        context = Context(model_dir=str(self.config.model_dir))
        model_dir = str(self.config.model_dir)
        started = time.perf_counter()
        try:
            if self.handler.pre_model_fn is not None:
                self.handler.pre_model_fn(model_dir, context=context)
            model = self.handler.model_fn(model_dir, context=context)
            if self.handler.model_warmup_fn is not None:
                self.handler.model_warmup_fn(model_dir, model, context=context)
        except Exception as exc:
            raise pipeline.StageFailure(LOAD, exc) from exc
        self.model = model
        self.load_seconds = time.perf_counter() - started
        self.state = State.READY
        log.info("model loaded in %.3f s (%s)", self.load_seconds, self.handler.describe())

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
        health = self.health()
        if not health.ready:
            raise ModelNotReady(health.reason, state=health.state.value)
        assert self._runner is not None
        context = Context.for_request(str(self.config.model_dir), headers, accept, request_id)
        outcome = await self._runner.call(
            pipeline.invoke,
            self.handler,
            self.model,
            body,
            accept,
            context,
            timeout=self.config.timeout_seconds,
        )
        return outcome, context
