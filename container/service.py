"""A worker's model: loading it, reporting its health honestly, and serving requests with it."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from container import encode, manifest, mediatypes, pipeline
from container.config import ServerConfig
from container.context import Context
from container.errors import LOAD, InferenceError, ModelNotReady, NotAcceptable, error_response
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
            model = self.handler.model_fn(model_dir, context=context)
            if self.handler.model_warmup_fn is not None:
                step = "model_warmup_fn"
                self.handler.model_warmup_fn(model_dir, model, context=context)
        except (Exception, SystemExit) as exc:  # sys.exit() in model code is a failed load too
            raise _LoadFailure(step, exc) from exc
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
