"""The model's life in the server: every load decision, the load itself, warm-up, and honest health.

Where to load is decided here and only here. Where the handler allows it (the layer that defines
model_fn promises preload: its HandlerSpec's options, or a user module's BYOC_HANDLER_OPTIONS =
{"preload": True}) and BYOC_PRELOAD is not off, the model is loaded once in the server's main
process before the workers are forked, so they share its memory; each worker then only warms it up,
before it accepts its first connection. Otherwise each worker loads its own copy in the background
while /ping answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from container.archives import manifest
from container.config import ServerConfig
from container.contract.context import Context
from container.contract.functions import Handler
from container.errors import LOAD, InferenceError, error_response
from container.inference.readiness import ReadinessBoard
from container.inference.runner import ModelRunner
from container.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Health:
    ready: bool
    state: ModelState
    reason: str


class LoadFailure(Exception):
    """A step of loading the model raised; `step` names it for the log and for /ping."""

    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(f"{step} failed: {error!r}")
        self.step = step
        self.error = error


class ModelLifecycle:
    """One process's model: where it is loaded, whether it is ready, and why not."""

    def __init__(
        self, config: ServerConfig, handler: Handler, metrics: Metrics, board: ReadinessBoard | None = None
    ) -> None:
        self.config = config
        self.handler = handler
        self.metrics = metrics
        self.board = board  # which of the server's workers are ready (see server_health)
        self.state = ModelState.LOADING
        self.failure = ""
        self.out_of_memory = False  # the load failed with MemoryError
        self.model: Any = None
        self.load_seconds: float | None = None
        self.loaded_before_fork = False
        self._runner: ModelRunner | None = None  # this worker's model thread
        self._settled: asyncio.Event | None = None  # set when this worker's load ends, either way
        # Told when a load ends, either way, in the process that loaded (multi-model mode reports
        # it to the manager): the state, and the public reason of a failure.
        self.on_settled: Callable[[ModelState, str], None] | None = None

    @property
    def loads_before_fork(self) -> bool:
        """True when the main process loads the model once, for every worker to share."""
        return self.config.preload and self.handler.model_fn.options.preload

    # --- in the main process ---

    def load_before_fork(self) -> None:
        """Load the model here and now, in the main process, before the workers are forked."""
        self._load_or_fail(self._load_model)
        self.loaded_before_fork = True
        if self.on_settled is not None and self.state is ModelState.FAILED:
            self.on_settled(self.state, self.failure)

    # --- in each worker ---

    async def start_worker(self, runner: ModelRunner) -> asyncio.Task[None] | None:
        """Make this worker's model ready on its model thread; the task still loading it, if any.

        A model loaded before the fork is only warmed up, and this returns when that is done, so
        the worker never answers 503 beside ready siblings. Otherwise the load (which may take
        minutes) goes on in the background while the worker answers /ping with 503; with
        `exit_on_load_failure` it is awaited here instead, so a failure stops the worker's boot.
        """
        self._runner = runner
        self._settled = asyncio.Event()
        if self.state is ModelState.FAILED:
            self._settled.set()
            return None
        if self.loaded_before_fork or self.config.exit_on_load_failure:
            await self._start(runner)
            return None
        return asyncio.create_task(self._start(runner))

    async def _start(self, runner: ModelRunner) -> None:
        assert self._settled is not None
        steps = self._warm_up if self.loaded_before_fork else self._load_and_warm_up
        self.state = ModelState.LOADING
        try:
            await runner.call(self._load_or_fail, steps, timeout=None)
        finally:
            self._settled.set()
        if self.on_settled is not None:
            self.on_settled(self.state, self.failure)
        if self.state is ModelState.READY:
            origin = "loaded once by the main process" if self.loaded_before_fork else "loaded by this worker"
            log.info("worker ready: model %s", origin)
            if self.board is not None:
                self.board.mark_ready()
        elif self.config.exit_on_load_failure:
            raise RuntimeError(f"the model failed to load: {self.failure}")

    async def wait_until_settled(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for a load still under way in this worker to end, either way."""
        if self.state is ModelState.LOADING and self._settled is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), timeout)

    # --- health ---

    def health(self) -> Health:
        """This worker's health: whether it can serve a request now, and why not."""
        if self.state is ModelState.READY and self._runner is not None and self._runner.needs_restart:
            if self.board is not None:
                self.board.mark_gone()
            return Health(False, self.state, "model calls are stuck; the worker is restarting")
        if self.state is ModelState.READY:
            return Health(True, self.state, "")
        if self.state is ModelState.LOADING:
            return Health(False, self.state, "the model is still loading")
        return Health(False, self.state, f"the model failed to load: {self.failure}")

    def server_health(self) -> Health:
        """What /ping says for the server: this worker's health, unless this worker is only loading
        (or restarting) while another can serve; a request it gets meanwhile waits for its load.
        A failed load stays a 503: this worker would fail every request it is given.
        """
        health = self.health()
        if health.ready or self.state is ModelState.FAILED or self.board is None:
            return health
        if self.board.others_ready():
            return Health(True, health.state, f"another worker serves; in this one, {health.reason}")
        return health

    # --- the steps ---

    def _load_or_fail(self, steps: Any) -> None:
        try:
            steps()
        except LoadFailure as failure:
            self.state = ModelState.FAILED
            self.failure = _public_reason(failure.step, failure.error)
            self.out_of_memory = isinstance(failure.error, MemoryError)
            log.error(
                "the model failed to load (in %s); /ping will answer 503 until the server restarts",
                failure.step,
                exc_info=failure.error,
            )

    def _load_and_warm_up(self) -> None:
        self._load_model()
        self._warm_up()

    def _load_model(self) -> None:
        context = self._context()
        started = time.perf_counter()
        step = "the model manifest check"  # which step failed, for the log and for /ping
        try:
            allow_mismatch = self.config.allow_version_mismatch
            for finding in manifest.check_model_dir(self.config.model_dir, allow_mismatch):
                log.warning("version mismatch: %s", finding.describe())
            if self.handler.pre_model_fn is not None:
                step = "pre_model_fn"
                self.handler.pre_model_fn(context.model_dir, context=context)
            step = "model_fn"
            self.model = self.handler.model_fn(context.model_dir, context=context)
        except (Exception, SystemExit) as exc:  # sys.exit() in model code is a failed load too
            raise LoadFailure(step, exc) from exc
        self.load_seconds = time.perf_counter() - started
        self.metrics.model_load.set(self.load_seconds)
        log.info("model loaded in %.3f s (%s)", self.load_seconds, self.handler.describe())

    def _warm_up(self) -> None:
        # Per worker, even when the model was loaded before the fork: warm-ups start thread pools
        # and fill caches, which belong to the process that will predict, not to the one that forks.
        if self.handler.model_warmup_fn is not None:
            context = self._context()
            try:
                self.handler.model_warmup_fn(context.model_dir, self.model, context=context)
            except (Exception, SystemExit) as exc:
                raise LoadFailure("model_warmup_fn", exc) from exc
        self.state = ModelState.READY

    def _context(self) -> Context:
        return Context(model_dir=str(self.config.model_dir), config=self.config)


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
