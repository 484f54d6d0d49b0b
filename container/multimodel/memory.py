"""Memory: the container's limit and use, each process's own share, and whether a model fits.

The limit is the cgroup's (v2: memory.max; v1: memory.limit_in_bytes), as `docker run --memory`
and SageMaker's instances set it; without one, the machine's memory. Use is the cgroup's working
set (usage less the page cache the kernel can drop, as Docker and Kubernetes count it). With
BYOC_MEMORY_LIMIT_MB the limit is that number and use is this server's own process tree: a budget
for the server alone, on a machine it shares.

A process's memory is read from /proc/PID/smaps_rollup: RSS, PSS (shared pages divided among their
sharers) and USS (its private pages: what the kernel frees when it exits). A model's measured
memory is the USS of its process tree, taken after it loaded.

`admit` is the pure decision: a load is refused (507) when its estimate, plus the loads under way,
would leave less than the headroom free.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
# Larger than any machine: cgroup v1 says "no limit" with a number near 2**63.
UNLIMITED = 2**60
PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")
# An estimate for a model never loaded here: its files, expanded by this factor (a pickle of arrays
# loads to about its size; compressed files to more), plus a process's own first pages.
FILE_EXPANSION = 1.5
PROCESS_BASE_BYTES = 24 * MIB
WORKER_BASE_BYTES = 16 * MIB


@dataclass(frozen=True)
class ProcessMemory:
    rss: int = 0
    pss: int = 0
    uss: int = 0

    def __add__(self, other: ProcessMemory) -> ProcessMemory:
        return ProcessMemory(self.rss + other.rss, self.pss + other.pss, self.uss + other.uss)

    def as_dict(self) -> dict[str, int]:
        return {"rssBytes": self.rss, "pssBytes": self.pss, "ussBytes": self.uss}


def process_memory(pid: int) -> ProcessMemory:
    """RSS, PSS and USS of one process; zeros when it is gone."""
    fields: dict[str, int] = {}
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return ProcessMemory()
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0]) * 1024
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return ProcessMemory(fields.get("Rss", 0), fields.get("Pss", 0), private)


def descendants(pid: int, skip: frozenset[int] = frozenset()) -> list[int]:
    """`pid` and every process below it (found through /proc/PID/task/*/children), but the trees
    whose roots are in `skip`."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        if current in skip:
            continue
        found.append(current)
        for task in _tasks(current):
            try:
                children = (PROC / str(current) / "task" / task / "children").read_text().split()
            except OSError:
                continue
            pending.extend(int(child) for child in children)
    return found


def tree_memory(
    pid: int, skip: frozenset[int] = frozenset()
) -> tuple[ProcessMemory, list[tuple[int, ProcessMemory]]]:
    """The summed memory of `pid`'s process tree (less the subtrees in `skip`), and each process's own."""
    each = [(member, process_memory(member)) for member in descendants(pid, skip)]
    total = ProcessMemory()
    for _, memory in each:
        total = total + memory
    return total, each


def _tasks(pid: int) -> Iterable[str]:
    try:
        return os.listdir(PROC / str(pid) / "task")
    except OSError:
        return []


# --- the container ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    limit: int
    used: int
    source: str  # where the numbers come from, for messages: "cgroup v2", "BYOC_MEMORY_LIMIT_MB", ...


def container_usage(configured_limit: int | None, server: int, models: dict[int, int]) -> Usage:
    """The memory limit in force and what is used of it now.

    With a configured limit, use is counted by process: the server's own processes (PSS), plus
    each model's processes as `models` (model process pid -> bytes) accounts them. PSS alone would
    count a model's pages half while its first worker is being forked beside it.
    """
    if configured_limit is not None:
        own = tree_memory(server, skip=frozenset(models))[0].pss
        return Usage(configured_limit, own + sum(models.values()), "BYOC_MEMORY_LIMIT_MB")
    cgroup = cgroup_usage(CGROUP)
    if cgroup is not None:
        return cgroup
    total, available = _meminfo()
    return Usage(total, total - available, "the machine's memory (no cgroup limit)")


def cgroup_usage(root: Path) -> Usage | None:
    """The cgroup's limit and working set (v2, else v1); None when neither has a limit."""
    v2 = _read_int(root / "memory.max")
    if v2 is not None and v2 < UNLIMITED:
        current = _read_int(root / "memory.current") or 0
        inactive = _stat(root / "memory.stat").get("inactive_file", 0)
        return Usage(v2, max(current - inactive, 0), "cgroup v2 memory.max")
    v1 = _read_int(root / "memory" / "memory.limit_in_bytes")
    if v1 is not None and v1 < UNLIMITED:
        usage = _read_int(root / "memory" / "memory.usage_in_bytes") or 0
        inactive = _stat(root / "memory" / "memory.stat").get("total_inactive_file", 0)
        return Usage(v1, max(usage - inactive, 0), "cgroup v1 memory.limit_in_bytes")
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _stat(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        name, _, number = line.partition(" ")
        if number.strip().isdigit():
            values[name] = int(number)
    return values


def _meminfo() -> tuple[int, int]:
    values = {}
    for line in (PROC / "meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[name] = int(parts[0]) * 1024
    return values["MemTotal"], values.get("MemAvailable", values.get("MemFree", 0))


# --- the decision (pure) ---------------------------------------------------------------------


def headroom(limit: int, configured: int | None) -> int:
    """The memory kept free: BYOC_MEMORY_HEADROOM_MB, or a tenth of the limit."""
    return configured if configured is not None else limit // 10


def estimate(file_bytes: int, workers: int, measured: int | None, worker_bytes: int | None) -> int:
    """What loading a model will take: what it took last time here, else its files expanded, plus
    one process for the model and its workers' own pages."""
    if measured is not None:
        return measured
    per_worker = worker_bytes if worker_bytes is not None else WORKER_BASE_BYTES
    return int(file_bytes * FILE_EXPANSION) + PROCESS_BASE_BYTES + workers * per_worker


@dataclass(frozen=True)
class Admission:
    admitted: bool
    needed: int
    free: int  # what may be used without eating into the headroom, loads under way deducted
    limit: int
    headroom: int
    source: str

    def message(self, name: str) -> str:
        return (
            f"model {name} needs about {self.needed // MIB} MiB to load, and {max(self.free, 0) // MIB} MiB "
            f"are free of the container's {self.limit // MIB} MiB ({self.source}), keeping "
            f"{self.headroom // MIB} MiB of headroom (BYOC_MEMORY_HEADROOM_MB): unload a model first"
        )


def admit(needed: int, usage: Usage, reserved: int, kept_free: int) -> Admission:
    """Whether a load estimated at `needed` bytes fits, with `reserved` bytes promised to loads under way."""
    free = usage.limit - kept_free - usage.used - reserved
    return Admission(needed <= free, needed, free, usage.limit, kept_free, usage.source)


def over_limit(usage: Usage, kept_free: int) -> bool:
    """During a load: use has eaten half the headroom, so the load outgrew its estimate."""
    return usage.used > usage.limit - kept_free // 2


def directory_bytes(path: Path, skip: Iterable[str] = ("code",)) -> int:
    """The size of the files under `path`, leaving out the top-level entries in `skip`."""
    total = 0
    skipped = set(skip)
    for root, dirs, files in os.walk(path):
        if Path(root) == path:
            dirs[:] = [d for d in dirs if d not in skipped]
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total
