"""Prometheus metrics for GET /metrics, summed correctly over gunicorn's worker processes.

Names mirror the CloudWatch metrics SageMaker publishes for an endpoint, so dashboards translate:

    byoc_invocations_total              Invocations
    byoc_invocation_4xx_errors_total    Invocation4XXErrors
    byoc_invocation_5xx_errors_total    Invocation5XXErrors
    byoc_model_latency_seconds          ModelLatency (a histogram; CloudWatch reports microseconds)
    byoc_overhead_latency_seconds       OverheadLatency
    byoc_batch_size                     requests per predict_fn call (micro-batching)
    byoc_invocations_in_flight          requests being served now
    byoc_model_load_seconds             how long model_fn took

In multi-model mode (container.multimodel) every one of these carries a `model` label (the
model_name of POST /models), and the front adds the metrics SageMaker publishes for multi-model
endpoints:

    byoc_model_loading_seconds          ModelLoadingTime (POST /models; a histogram)
    byoc_model_unloading_seconds        ModelUnloadingTime (DELETE /models/{name})
    byoc_model_cache_hits_total         ModelCacheHit: invocations whose model was loaded
    byoc_model_cache_misses_total       ... and those answered 404 because it was not
    byoc_loaded_models                  LoadedModelCount
    byoc_model_load_refusals_total      loads answered 507 (reason="memory") or failed (reason="model")
    byoc_model_memory_bytes             each loaded model's measured memory (its process tree's USS)

Each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode), which /metrics adds up. prometheus_client picks that mode when it is imported,
so `prepare_multiprocess_dir` must run before anything imports it: the server calls it first thing.

A sample written to those files costs microseconds (a lock, a check of the process id, a write to
the memory-mapped file; a histogram's bucket found by a Python loop), and each request writes
several. So the event loop's samples (what /invocations records) are added up in plain numbers
and written once per turn of the loop, like the access log's lines (container.telemetry.access_log):
one write per bucket that moved, however many requests the turn served.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0, 60.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def prepare_multiprocess_dir() -> Path | None:
    """A fresh directory for this server's metric files, named in the environment workers inherit.

    Returns the directory when it was made here (to remove at exit); None when the user named one.
    """
    existing = os.environ.get(MULTIPROC_ENV)
    if existing:
        path = Path(existing)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # a previous run's counts are not this run's
            stale.unlink()
        return None
    path = Path(tempfile.mkdtemp(prefix="byoc-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (in-flight), keeping its counters in the totals."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_multiprocess_dir(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def _registry() -> Any:
    from prometheus_client import CollectorRegistry

    # In the server, samples go to the multiprocess files and are registered nowhere (rendering
    # reads the files); elsewhere (tests, notebooks) they live in the object's own registry.
    return None if os.environ.get(MULTIPROC_ENV) else CollectorRegistry()


class Metrics:
    def __init__(self, model: str | None = None) -> None:
        """A model's metrics; `model` (multi-model mode) labels every one of them with its name."""
        from prometheus_client import Counter, Gauge, Histogram

        self._registry = _registry()
        labels = ("model",) if model is not None else ()

        def make(kind: Any, name: str, documentation: str, **options: Any) -> Any:
            metric = kind(name, documentation, labelnames=labels, registry=self._registry, **options)
            return metric.labels(model) if model is not None else metric

        self.invocations = make(Counter, "byoc_invocations", "Requests to /invocations")
        self.errors_4xx = make(Counter, "byoc_invocation_4xx_errors", "Invocations answered 4xx")
        self.errors_5xx = make(Counter, "byoc_invocation_5xx_errors", "Invocations answered 5xx")
        self.model_latency = make(
            Histogram,
            "byoc_model_latency_seconds",
            "Time in predict_fn (or transform_fn) per invocation",
            buckets=LATENCY_BUCKETS,
        )
        self.overhead_latency = make(
            Histogram,
            "byoc_overhead_latency_seconds",
            "Server time per invocation outside the model",
            buckets=LATENCY_BUCKETS,
        )
        self.batch_size = make(
            Histogram, "byoc_batch_size", "Requests per predict_fn call", buckets=BATCH_BUCKETS
        )
        in_flight = make(
            Gauge, "byoc_invocations_in_flight", "Invocations being served", multiprocess_mode="livesum"
        )
        self.model_load = make(
            Gauge, "byoc_model_load_seconds", "Seconds model_fn took", multiprocess_mode="max"
        )
        # What the event loop records per request, written once per turn of the loop.
        self._flush_scheduled = False
        self.in_flight = _Tally(in_flight, self._schedule)
        self._invocations = _Tally(self.invocations, self._schedule)
        self._errors_4xx = _Tally(self.errors_4xx, self._schedule)
        self._errors_5xx = _Tally(self.errors_5xx, self._schedule)
        self._model_latency = _Spread(self.model_latency, self._schedule)
        self._overhead_latency = _Spread(self.overhead_latency, self._schedule)
        self._buffered = (
            self.in_flight,
            self._invocations,
            self._errors_4xx,
            self._errors_5xx,
            self._model_latency,
            self._overhead_latency,
        )

    def observe(self, status: int, model_seconds: float, overhead_seconds: float) -> None:
        """One invocation's answer (recorded with the others of this turn of the event loop)."""
        self._invocations.inc()
        if 400 <= status < 500:
            self._errors_4xx.inc()
        elif status >= 500:
            self._errors_5xx.inc()
        if model_seconds > 0:
            self._model_latency.observe(model_seconds)
        self._overhead_latency.observe(overhead_seconds)

    def flush(self) -> None:
        """Write what this turn of the event loop recorded (also done by render)."""
        for buffered in self._buffered:
            buffered.flush()

    def render(self) -> bytes:
        self.flush()
        return render(self._registry)

    def _schedule(self) -> None:
        """Flush at the end of this turn of the event loop (at once outside a running loop)."""
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._flush_turn)

    def _flush_turn(self) -> None:
        self._flush_scheduled = False
        self.flush()


class _Tally:
    """A counter's or gauge's changes, added up until flushed (the event loop's thread only)."""

    def __init__(self, metric: Any, schedule: Callable[[], None]) -> None:
        self.metric = metric
        self._schedule = schedule
        self._delta = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self._delta += amount
        self._schedule()

    def dec(self, amount: float = 1.0) -> None:
        self._delta -= amount
        self._schedule()

    def flush(self) -> None:
        if self._delta:
            delta, self._delta = self._delta, 0.0
            self.metric.inc(delta)


class _Spread:
    """A histogram's observations, counted per bucket until flushed (the event loop's thread only).

    Flushing writes each bucket's count and the sum as prometheus_client's own observe() would have,
    through the same fields (_upper_bounds, _buckets, _sum); tests/container/telemetry holds the two
    to the same exposition.
    """

    def __init__(self, histogram: Any, schedule: Callable[[], None]) -> None:
        self.histogram = histogram
        self._schedule = schedule
        self._bounds = list(histogram._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._pending = False

    def observe(self, amount: float) -> None:
        # The first bucket whose upper bound is at least the amount, as Histogram.observe finds it.
        self._counts[bisect.bisect_left(self._bounds, amount)] += 1
        self._sum += amount
        self._pending = True
        self._schedule()

    def flush(self) -> None:
        if not self._pending:
            return
        buckets = self.histogram._buckets
        for index, count in enumerate(self._counts):
            if count:
                buckets[index].inc(count)
                self._counts[index] = 0
        self.histogram._sum.inc(self._sum)
        self._sum = 0.0
        self._pending = False


def render(registry: Any = None) -> bytes:
    """The Prometheus text of `registry`, or (None) of every process's multiprocess files."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    if registry is not None:
        return generate_latest(registry)
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return generate_latest(collected)


class ModelCacheMetrics:
    """Multi-model mode's own metrics, after SageMaker's for multi-model endpoints (module docstring).

    The manager process records loads, unloads and the loaded count; the front records cache hits.
    """

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self._registry = _registry()
        registry = {"registry": self._registry}
        model = ("model",)
        self.loading = Histogram(
            "byoc_model_loading_seconds",
            "Seconds a POST /models took, for the loads that succeeded (ModelLoadingTime)",
            model,
            buckets=LATENCY_BUCKETS,
            **registry,
        )
        self.unloading = Histogram(
            "byoc_model_unloading_seconds",
            "Seconds a DELETE /models/{name} took (ModelUnloadingTime)",
            model,
            buckets=LATENCY_BUCKETS,
            **registry,
        )
        self.hits = Counter(
            "byoc_model_cache_hits", "Invocations whose model was loaded (ModelCacheHit)", model, **registry
        )
        self.misses = Counter(
            "byoc_model_cache_misses", "Invocations answered 404: the model was not loaded", model, **registry
        )
        self.loaded = Gauge(
            "byoc_loaded_models",
            "Models loaded now (LoadedModelCount)",
            multiprocess_mode="livesum",
            **registry,
        )
        self.refusals = Counter(
            "byoc_model_load_refusals",
            "Loads refused: reason=memory (507) or reason=model (the model failed to load)",
            ("reason",),
            **registry,
        )
        self.memory = Gauge(
            "byoc_model_memory_bytes",
            "Memory of each loaded model's processes (USS), measured when it loaded",
            model,
            multiprocess_mode="livesum",
            **registry,
        )

    def render(self) -> bytes:
        return render(self._registry)
