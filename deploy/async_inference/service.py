"""The asynchronous side of a local endpoint: InvokeEndpointAsync accepted at once, processed in turn.

`accept` answers the API call (202 with the result locations, or a ValidationError) and queues the
request; `run` is the loop that takes requests from the queue as the concurrency cap allows (each on
the next healthy instance), expires the ones that waited past their RequestTTLSeconds, and writes
every result or error object (deploy.async_inference.processor). `snapshot` is the queue as
`byoc local status` shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from deploy.async_inference import processor, requests
from deploy.async_inference.queue import AsyncQueue
from deploy.async_inference.requests import AsyncRequest, Locations, RequestError

log = logging.getLogger("byoc.local.async")

DEFAULT_MAX_CONCURRENT_PER_INSTANCE = 4
IDLE_WAKE_SECONDS = 1.0  # expiry is checked at least this often while requests wait


@dataclass(frozen=True)
class AsyncEndpointConfig:
    output_path: str
    failure_path: str | None = None
    max_concurrent_per_instance: int = DEFAULT_MAX_CONCURRENT_PER_INSTANCE

    @classmethod
    def from_dict(cls, data: dict) -> AsyncEndpointConfig:
        return cls(
            output_path=str(data["output_path"]),
            failure_path=data.get("failure_path"),
            max_concurrent_per_instance=int(
                data.get("max_concurrent_per_instance") or DEFAULT_MAX_CONCURRENT_PER_INSTANCE
            ),
        )

    def to_dict(self) -> dict:
        return {
            "output_path": self.output_path,
            "failure_path": self.failure_path,
            "max_concurrent_per_instance": self.max_concurrent_per_instance,
        }


@dataclass
class _Job:
    request: AsyncRequest
    where: Locations
    received: float


class AsyncService:
    def __init__(
        self,
        config: AsyncEndpointConfig,
        instances: Callable[[], int],
        pick: Callable[[], Any],
        s3: Any = None,
        clock: Callable[[], float] = time.monotonic,
        use: Callable[[Any], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        """`instances()` counts the healthy instances; `pick()` gives the next one (with .url), or
        None; `use(instance)` wraps its use (the front counts requests in flight per instance)."""
        self.config = config
        self.instances = instances
        self.pick = pick
        self.use = use or (lambda instance: contextlib.nullcontext())
        self.s3 = s3
        self.clock = clock
        self.queue: AsyncQueue[_Job] = AsyncQueue(capacity=self._capacity(), instances=instances())
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_outcomes: list[dict] = []  # the latest few, newest last, for `byoc local status`

    def _capacity(self) -> int:
        return max(self.instances(), 1) * self.config.max_concurrent_per_instance

    # --- the API call ---------------------------------------------------------------------------

    def accept(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], dict]:
        """(status, headers, JSON body): 202 and the locations, or raises RequestError (400)."""
        request = requests.parse(headers, body)
        where = requests.locations(request, self.config.output_path, self.config.failure_path)
        self.queue.submit(_Job(request, where, self.clock()), self.clock(), request.ttl_seconds)
        self._wake.set()
        return requests.accepted(request, where)

    # --- the loop -------------------------------------------------------------------------------

    async def run(self, http: httpx.AsyncClient) -> None:
        if self.s3 is None:
            self.s3 = await asyncio.to_thread(processor.s3_client)
        while True:
            self.queue.capacity = self._capacity()
            self.queue.instances = self.instances()
            job, expired = self.queue.take(self.clock())
            for stale in expired:
                self._start(self._expire(stale))
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_WAKE_SECONDS)
                continue
            instance = self.pick()
            if instance is None:  # no healthy instance: the request waits at the head of the queue
                self.queue.put_back(job, job.received, job.request.ttl_seconds)
                await asyncio.sleep(IDLE_WAKE_SECONDS)
                continue
            self._start(self._process(job, instance, http))

    def _start(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, job: _Job, instance: Any, http: httpx.AsyncClient) -> None:
        ok = False
        try:
            with self.use(instance):
                outcome = await processor.process(
                    job.request, job.where, instance.url, http, self.s3, received=job.received
                )
            ok = outcome.ok
            self._record(job, outcome)
        except Exception:
            log.exception("async request %s failed unexpectedly", job.request.inference_id)
        finally:
            self.queue.done(ok)
            self._wake.set()

    async def _expire(self, job: _Job) -> None:
        try:
            outcome = await processor.expire(job.request, job.where, self.s3, self.clock() - job.received)
            self._record(job, outcome)
        except Exception:
            log.exception("could not record the expiry of %s", job.request.inference_id)

    def _record(self, job: _Job, outcome: processor.Outcome) -> None:
        level = logging.INFO if outcome.ok else logging.WARNING
        log.log(level, "async %s: %s -> %s", job.request.inference_id, outcome.code, outcome.location)
        self.last_outcomes.append(
            {
                "InferenceId": job.request.inference_id,
                "status": outcome.code,
                "location": str(outcome.location),
                "seconds": round(outcome.seconds, 3),
            }
        )
        del self.last_outcomes[:-20]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def snapshot(self) -> dict:
        return {
            "output_path": self.config.output_path,
            "failure_path": self.config.failure_path or self.config.output_path,
            "max_concurrent_per_instance": self.config.max_concurrent_per_instance,
            "queue": self.queue.snapshot(self.clock()),
            "latest": list(self.last_outcomes),
        }


__all__ = ["AsyncEndpointConfig", "AsyncService", "RequestError"]
