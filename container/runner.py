"""Run model code off the event loop, with a deadline per call.

Each worker process sends its model calls to one dedicated thread, in order. The event loop stays
free for /ping, for reading requests and for answering the ones whose deadline passed. A call that
overruns its deadline cannot be stopped (Python threads cannot be killed), so the runner abandons
that thread and starts a fresh one: the worker keeps serving while the stuck call finishes on its
own. When too many abandoned threads are still stuck, the runner says so, and the worker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from container.errors import RequestTimeout

log = logging.getLogger(__name__)
MAX_STUCK_THREADS = 4


@dataclass(eq=False)
class _Call:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    cancelled: bool = False
    started_at: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


class ModelRunner:
    def __init__(self, name: str = "model") -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._retired: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._thread = self._start_thread()

    async def call(self, function: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
        """Run `function(*args)` on the model thread; RequestTimeout after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        call = _Call(function, args, loop, loop.create_future())
        self._calls.put(call)
        try:
            return await asyncio.wait_for(asyncio.shield(call.future), timeout)
        except TimeoutError:
            # Nobody will await the outcome now; retrieve it so asyncio does not log it as lost.
            call.future.add_done_callback(_discard)
            self._abandon(call)
            raise RequestTimeout(
                f"the model did not answer within {timeout:g} s (SAGEMAKER_MODEL_SERVER_TIMEOUT)"
            ) from None

    @property
    def stuck_threads(self) -> int:
        with self._lock:
            self._retired = {t for t in self._retired if t.is_alive()}
            return len(self._retired)

    @property
    def needs_restart(self) -> bool:
        return self.stuck_threads >= MAX_STUCK_THREADS

    def stop(self) -> None:
        self._calls.put(None)

    def _abandon(self, call: _Call) -> None:
        with self._lock:
            if call.started_at is None:
                call.cancelled = True  # still queued: the thread will skip it
                return
            if call.thread is not self._thread or call.future.done():
                return
            log.error(
                "a model call overran its deadline and is still running after %.1f s; "
                "serving continues on a fresh model thread",
                time.monotonic() - call.started_at,
            )
            self._retired.add(self._thread)
            self._thread = self._start_thread()

    def _start_thread(self) -> threading.Thread:
        # Daemon: a call stuck forever must not keep the process alive at shutdown.
        thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        thread.start()
        return thread

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            call = self._calls.get()
            if call is None:
                self._calls.put(None)  # let sibling threads see the stop too
                return
            with self._lock:
                if call.cancelled:
                    continue
                call.started_at = time.monotonic()
                call.thread = me
            try:
                outcome: tuple[bool, Any] = (True, call.function(*call.args))
            except Exception as exc:
                outcome = (False, exc)
            except BaseException as exc:
                # SystemExit or KeyboardInterrupt set on an asyncio future escapes the event loop and
                # kills the worker: hand the caller an ordinary exception that says what happened.
                wrapped = RuntimeError(f"model code raised {type(exc).__name__}: {exc}")
                wrapped.__cause__ = exc
                outcome = (False, wrapped)
            # RuntimeError: the event loop closed while this call ran, so nobody is waiting for it.
            with contextlib.suppress(RuntimeError):
                call.loop.call_soon_threadsafe(_settle, call.future, outcome)
            if me is not self._thread:
                return  # abandoned while it ran: a fresh thread has taken over


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _discard(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
