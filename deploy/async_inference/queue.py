"""The queue of an async endpoint: first in, first out, a cap on requests in flight, and expiry. Pure.

SageMaker queues InvokeEndpointAsync requests and sends each to an instance when one has room
(AsyncInferenceConfig.ClientConfig.MaxConcurrentInvocationsPerInstance); a request that waited
longer than its RequestTTLSeconds is not processed but expired (the ExpiredRequests metric). The
numbers `snapshot` gives are the ones SageMaker publishes for the queue ("Monitor asynchronous
endpoints", https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-monitor.html):
ApproximateBacklogSize, ApproximateBacklogSizePerInstance, ApproximateAgeOfOldestRequest,
HasBacklogWithoutCapacity, and the counts of processed, failed and expired requests.

The clock is passed in (`now`, seconds), so the rules are tested without waiting.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass
class _Waiting(Generic[Item]):
    item: Item
    received: float
    ttl_seconds: float


@dataclass
class AsyncQueue(Generic[Item]):
    capacity: int  # requests in flight at once (instances x per-instance cap)
    instances: int = 1
    waiting: collections.deque[_Waiting[Item]] = field(default_factory=collections.deque)
    in_flight: int = 0
    processed: int = 0
    failed: int = 0
    expired: int = 0

    def submit(self, item: Item, now: float, ttl_seconds: float) -> None:
        self.waiting.append(_Waiting(item, now, ttl_seconds))

    def take(self, now: float) -> tuple[Item | None, list[Item]]:
        """The next request to start (None when none may start now) and the requests that expired."""
        expired: list[Item] = []
        while self.waiting and now - self.waiting[0].received > self.waiting[0].ttl_seconds:
            expired.append(self.waiting.popleft().item)
        # Requests behind the head may have shorter TTLs: they expire too, in their turn, when they
        # reach the head (as in a queue that is only ever read at its head).
        self.expired += len(expired)
        if not self.waiting or self.in_flight >= self.capacity:
            return None, expired
        self.in_flight += 1
        return self.waiting.popleft().item, expired

    def put_back(self, item: Item, received: float, ttl_seconds: float) -> None:
        """A request taken but not started (no instance could take it): back at the head, as it was."""
        self.in_flight -= 1
        self.waiting.appendleft(_Waiting(item, received, ttl_seconds))

    def done(self, ok: bool) -> None:
        self.in_flight -= 1
        if ok:
            self.processed += 1
        else:
            self.failed += 1

    def snapshot(self, now: float) -> dict[str, float]:
        backlog = len(self.waiting) + self.in_flight
        oldest = now - self.waiting[0].received if self.waiting else 0.0
        return {
            "ApproximateBacklogSize": backlog,
            "ApproximateBacklogSizePerInstance": backlog / self.instances if self.instances else backlog,
            "ApproximateAgeOfOldestRequest": round(oldest, 3),
            "HasBacklogWithoutCapacity": 1.0 if backlog and not self.instances else 0.0,
            "Waiting": len(self.waiting),
            "InFlight": self.in_flight,
            "InvocationsProcesssed": self.processed,  # sic: SageMaker's own spelling
            "InvocationFailures": self.failed,
            "ExpiredRequests": self.expired,
        }
