"""Round-robin over the healthy instances of an endpoint, with health and in-flight bookkeeping.

Pure logic: the front calls `pick` per request, `mark` from its health checks and connection
failures, and `replace` for a blue/green swap (the old instances stay known, outside the rotation,
until their in-flight requests have finished).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Instance:
    id: str  # the container id (or any unique name)
    url: str  # http://127.0.0.1:PORT
    healthy: bool = False
    in_flight: int = 0
    served: int = 0
    failures: int = 0  # consecutive failed health checks
    last_error: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "url": self.url,
            "healthy": self.healthy,
            "in_flight": self.in_flight,
            "served": self.served,
            "last_error": self.last_error,
        }


@dataclass
class Pool:
    """The instances in rotation, and the retired ones that are draining."""

    active: list[Instance] = field(default_factory=list)
    retired: list[Instance] = field(default_factory=list)
    _next: int = 0

    @classmethod
    def of(cls, instances: Iterable[Instance]) -> Pool:
        return cls(active=list(instances))

    def healthy(self) -> list[Instance]:
        return [instance for instance in self.active if instance.healthy]

    def pick(self, exclude: Iterable[str] = ()) -> Instance | None:
        """The next healthy instance in round-robin order that is not in `exclude`; None if there is none."""
        excluded = set(exclude)
        count = len(self.active)
        for step in range(count):
            instance = self.active[(self._next + step) % count]
            if instance.healthy and instance.id not in excluded:
                self._next = (self._next + step + 1) % count
                return instance
        return None

    def find(self, instance_id: str) -> Instance | None:
        for instance in (*self.active, *self.retired):
            if instance.id == instance_id:
                return instance
        return None

    def mark(
        self, instance_id: str, healthy: bool, error: str = "", *, fatal: bool = True, threshold: int = 2
    ) -> bool:
        """Record a health result; True when the instance entered or left the rotation.

        A failure takes the instance out at once when `fatal` (its port refuses connections: the
        container is gone), otherwise after `threshold` consecutive failures (a slow /ping).
        """
        instance = self.find(instance_id)
        if instance is None:
            return False
        before = instance.healthy
        if healthy:
            instance.healthy, instance.failures, instance.last_error = True, 0, ""
        else:
            instance.failures += 1
            instance.last_error = error
            if fatal or instance.failures >= threshold:
                instance.healthy = False
        return before != instance.healthy

    def replace(self, instances: Iterable[Instance]) -> list[Instance]:
        """Put `instances` in rotation at once; the previous ones retire (and drain). Returns them."""
        new = list(instances)
        new_ids = {instance.id for instance in new}
        old = [instance for instance in self.active if instance.id not in new_ids]
        self.retired.extend(old)
        self.active = new
        self._next = 0
        return old

    def draining(self, instances: Iterable[Instance]) -> int:
        """Requests still in flight on `instances`."""
        return sum(instance.in_flight for instance in instances)

    def forget(self, instances: Iterable[Instance]) -> None:
        ids = {instance.id for instance in instances}
        self.retired = [instance for instance in self.retired if instance.id not in ids]

    def all(self) -> list[Instance]:
        return [*self.active, *self.retired]
