"""Run model code off the event loop, with a deadline per call, batching calls that can share one.

Each worker process sends its model calls to one dedicated thread, in order. The event loop stays
free for /ping, for reading requests and for answering the ones whose deadline passed.

Batching: a call submitted with a batch key may run together with the other queued calls of the
same key, as one call of the batch function on all their items. Nothing waits for company by
default: while the model works on one batch, the requests that arrive queue up and form the next,
so batches grow with the load and a lone request goes straight through.

A call that overruns its deadline cannot be stopped (Python threads cannot be killed), so the runner
abandons that thread and starts a fresh one: the worker keeps serving while the stuck call finishes
on its own. The calls queued behind a call that hangs need not wait for its deadline: once it has run
STALL_FACTOR times longer than calls lately take (and at least STALL_FLOOR_SECONDS) while others
wait, its thread is left to it in the same way, and a fresh one serves the queue; the hung call
still gets its answer, or its timeout. When too many abandoned threads are still stuck, the runner
says so, and the worker restarts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from container.errors import RequestTimeout

log = logging.getLogger(__name__)
MAX_STUCK_THREADS = 4
# A call has hung, for the calls queued behind it, after STALL_FACTOR times the recent typical call
# (an exponential average of call times) and at least STALL_FLOOR_SECONDS. The floor keeps slow but
# working models (and their first, cold calls) from being taken for hung ones.
STALL_FACTOR = 10.0
STALL_FLOOR_SECONDS = 5.0
STALL_CHECK_SECONDS = 0.25
RECENT_CALL_WEIGHT = 0.1
# A deadline this close is taken as reached: a loop whose clock counts milliseconds (uvloop) may
# wake a timer a little early, and waking it again at once would only spin.
CLOCK_SLACK_SECONDS = 0.001

# What a batch function returns for each item: (True, value) or (False, exception).
Outcome = tuple[bool, Any]
BatchFunction = Callable[[Sequence[Any]], Sequence[Outcome]]


@dataclass(eq=False)
class _Call:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    batch_key: Hashable | None = None
    cancelled: bool = False
    started_at: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)
    has_deadline: bool = True  # calls without one (loading the model) are never taken for hung


class ModelRunner:
    def __init__(
        self,
        name: str = "model",
        max_batch_size: int = 1,
        max_batch_delay: float = 0.0,
    ) -> None:
        self._name = name
        self._max_batch_size = max_batch_size
        self._max_batch_delay = max_batch_delay
        # SimpleQueue (C) for the hand-over: a Python Condition costs more than the rest of a small
        # request. Calls taken from it while gathering a batch but not part of it wait in _pending,
        # which only the current model thread touches.
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._pending: collections.deque[_Call | None] = collections.deque()
        self._retired: set[threading.Thread] = set()
        self._lock = threading.Lock()
        # What the current model thread is running: since when, and whether it may be taken for hung.
        self._running_since: float | None = None
        self._running_watched = False
        self._typical_seconds = 0.0  # recent call times, averaged
        self._watchdog: asyncio.TimerHandle | None = None
        self._deadlines: dict[asyncio.AbstractEventLoop, _Deadlines] = {}
        self._thread = self._start_thread()

    async def call(self, function: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
        """Run `function(*args)` on the model thread; RequestTimeout after `timeout` seconds."""
        call = _Call(function, args, *self._future(), has_deadline=timeout is not None)
        return await self._submit(call, timeout)

    async def call_batched(
        self, batch_function: BatchFunction, item: Any, key: Hashable, timeout: float | None
    ) -> Any:
        """Run `batch_function([item, ...])` with other queued items of the same key; this item's result."""
        return await self._submit(_Call(batch_function, (item,), *self._future(), batch_key=key), timeout)

    @property
    def stuck_threads(self) -> int:
        if not self._retired:  # the usual case, asked twice per request: no lock needed to see it
            return 0
        with self._lock:
            self._retired = {t for t in self._retired if t.is_alive()}
            return len(self._retired)

    @property
    def needs_restart(self) -> bool:
        return self.stuck_threads >= MAX_STUCK_THREADS

    def stop(self) -> None:
        self._put(None)

    # --- submitting ---

    @staticmethod
    def _future() -> tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        return loop, loop.create_future()

    async def _submit(self, call: _Call, timeout: float | None) -> Any:
        self._put(call)
        if self._watchdog is None:
            self._watchdog = call.loop.call_later(STALL_CHECK_SECONDS, self._watch, call.loop)
        if timeout is not None:
            # Not asyncio.wait_for (a task and a shield per call), nor a timer per call (each pushed
            # onto the loop's heap of timers and cancelled again, the heap's comparisons in Python):
            # the loop's deadlines in call order, under one timer for the earliest.
            deadlines = self._deadlines.get(call.loop)
            if deadlines is None:
                deadlines = self._deadlines[call.loop] = _Deadlines(call.loop, self._expire)
                for loop in [loop for loop in self._deadlines if loop.is_closed()]:
                    del self._deadlines[loop]  # the runner outlived an event loop (tests)
            entry = deadlines.add(call, timeout)
            try:
                return await call.future
            finally:
                # Answered (or given up on): its line keeps the deadline, not the request and its answer,
                # which a call hung at the line's head would otherwise hold until its own deadline.
                entry.call = None
        return await call.future

    def _expire(self, call: _Call, timeout: float) -> None:
        if call.future.done():
            return
        self._abandon(call)
        call.future.set_exception(
            RequestTimeout(f"the model did not answer within {timeout:g} s (SAGEMAKER_MODEL_SERVER_TIMEOUT)")
        )

    def _put(self, call: _Call | None) -> None:
        self._queue.put(call)

    @property
    def stall_seconds(self) -> float:
        """How long a call may run while others wait before it is taken for hung."""
        return max(STALL_FLOOR_SECONDS, STALL_FACTOR * self._typical_seconds)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """While calls wait: leave a call that has hung to its thread, and serve them on a fresh one."""
        self._watchdog = None
        if not (self._pending or not self._queue.empty()):
            return  # nobody waits: the next submission looks again
        with self._lock:
            since = self._running_since
            if self._running_watched and since is not None:
                running_for = time.monotonic() - since
                if running_for > self.stall_seconds:
                    log.error(
                        "a model call has run for %.1f s while other requests wait; they continue on a "
                        "fresh model thread, and the call keeps its own deadline",
                        running_for,
                    )
                    self._retire_current()
        self._watchdog = loop.call_later(STALL_CHECK_SECONDS, self._watch, loop)

    def _retire_current(self) -> None:
        """Leave the current model thread to its call and start a fresh one (with the lock held)."""
        self._retired.add(self._thread)
        self._running_since = None
        self._thread = self._start_thread()

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
            self._retire_current()

    # --- the model thread ---

    def _start_thread(self) -> threading.Thread:
        # Daemon: a call stuck forever must not keep the process alive at shutdown.
        thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        thread.start()
        return thread

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            first = self._take()
            if first is None:
                self._put(None)  # let sibling threads see the stop too
                return
            calls = [first] if first.batch_key is None else self._gather(first)
            calls = self._start(calls, me)
            if not calls:
                continue
            outcomes = _run(calls)
            self._finish(calls, me)
            # One wake-up of the event loop for the whole batch, not one per call.
            settled = list(zip((call.future for call in calls), outcomes, strict=True))
            for loop in {call.loop for call in calls}:
                # RuntimeError: the event loop closed while this call ran; nobody is waiting for it.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle_all, settled, loop)
            if me is not self._thread:
                return  # abandoned while it ran: a fresh thread has taken over

    def _take(self) -> _Call | None:
        return self._pending.popleft() if self._pending else self._queue.get()

    def _gather(self, first: _Call) -> list[_Call]:
        """`first` and the queued calls with its batch key, up to the batch size, in order."""
        group = [first]
        # Calls set aside earlier come first, then whatever is queued now, then (only with a delay
        # configured) whatever arrives before the deadline.
        skipped: collections.deque[_Call | None] = collections.deque()
        while self._pending and len(group) < self._max_batch_size:
            self._sort(self._pending.popleft(), first.batch_key, group, skipped)
        deadline = time.monotonic() + self._max_batch_delay
        while len(group) < self._max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                call = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            self._sort(call, first.batch_key, group, skipped)
        self._pending.extendleft(reversed(skipped))
        return group

    @staticmethod
    def _sort(call: _Call | None, key: Hashable, group: list[_Call], skipped: collections.deque) -> None:
        if call is not None and call.batch_key == key:
            group.append(call)
        else:
            skipped.append(call)

    def _start(self, calls: list[_Call], me: threading.Thread) -> list[_Call]:
        with self._lock:
            live = [call for call in calls if not call.cancelled]
            now = time.monotonic()
            for call in live:
                call.started_at = now
                call.thread = me
            if live and me is self._thread:
                self._running_since = now
                self._running_watched = all(call.has_deadline for call in live)
        return live

    def _finish(self, calls: list[_Call], me: threading.Thread) -> None:
        started = calls[0].started_at
        with self._lock:
            if me is self._thread:
                self._running_since = None
                if started is not None and calls[0].has_deadline:
                    took = time.monotonic() - started
                    self._typical_seconds += (took - self._typical_seconds) * RECENT_CALL_WEIGHT


@dataclass(slots=True)
class _Deadline:
    when: float
    call: _Call | None  # None once the call's caller has its answer

    @property
    def pending(self) -> bool:
        return self.call is not None and not self.call.future.done()


class _Deadlines:
    """The deadlines of one event loop's calls, under one timer set for the earliest of them.

    Calls wait in lines in the order they were submitted, one line per timeout, so each line is in
    deadline order too: a call answered in time leaves its line when the line's head moves past it,
    and when the timer fires it fails the calls whose deadline has passed and is set for the next.
    """

    PRUNE_AT = 4096  # answered calls behind an unanswered head are dropped once a line is this long

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[_Call, float], None]) -> None:
        self.loop = loop
        self._expire = expire
        self._lines: dict[float, collections.deque[_Deadline]] = {}
        self._prune_at: dict[float, int] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, call: _Call, timeout: float) -> _Deadline:
        line = self._lines.get(timeout)
        if line is None:
            line = self._lines[timeout] = collections.deque()
        while line and not line[0].pending:
            line.popleft()
        if len(line) >= self._prune_at.get(timeout, self.PRUNE_AT):
            # A call that hangs at the head holds the answered ones behind it: drop those now.
            waiting = [entry for entry in line if entry.pending]
            line.clear()
            line.extend(waiting)
            self._prune_at[timeout] = max(self.PRUNE_AT, 2 * len(line))
        entry = _Deadline(self.loop.time() + timeout, call)
        line.append(entry)
        if self._timer is None or entry.when < self._timer.when():
            self._set_timer(entry.when)
        return entry

    def _set_timer(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(when, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        now = self.loop.time()
        earliest = None
        for timeout, line in self._lines.items():
            while line:
                entry = line[0]
                if not entry.pending:
                    line.popleft()
                elif entry.when <= now + CLOCK_SLACK_SECONDS:
                    line.popleft()
                    assert entry.call is not None
                    self._expire(entry.call, timeout)
                else:
                    earliest = entry.when if earliest is None else min(earliest, entry.when)
                    break
        if earliest is not None:
            self._set_timer(earliest)


def _run(calls: list[_Call]) -> list[Outcome]:
    """Run one call, or one batch of calls sharing a batch function; an outcome per call."""
    try:
        if calls[0].batch_key is None:
            return [(True, calls[0].function(*calls[0].args))]
        outcomes = list(calls[0].function([call.args[0] for call in calls]))
        if len(outcomes) != len(calls):
            raise RuntimeError(f"the batch function returned {len(outcomes)} outcomes for {len(calls)} items")
        return outcomes
    except Exception as exc:
        return [(False, exc)] * len(calls)
    except BaseException as exc:
        # SystemExit or KeyboardInterrupt set on an asyncio future escapes the event loop and
        # kills the worker: hand the caller an ordinary exception that says what happened.
        wrapped = RuntimeError(f"model code raised {type(exc).__name__}: {exc}")
        wrapped.__cause__ = exc
        return [(False, wrapped)] * len(calls)


def _settle_all(settled: list[tuple[asyncio.Future[Any], Outcome]], loop: asyncio.AbstractEventLoop) -> None:
    for future, (ok, value) in settled:
        if future.done() or future.get_loop() is not loop:
            continue  # timed out or cancelled meanwhile; or another loop's, settled by its own call
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
