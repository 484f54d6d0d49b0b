"""Metrics recorded by several processes add up in one /metrics answer (prometheus multiprocess).

prometheus_client chooses its multiprocess mode when it is first imported, so this runs in a fresh
interpreter that forks workers the way gunicorn does: after the metrics objects exist.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os
    from container.telemetry import metrics

    made = metrics.prepare_multiprocess_dir()
    recorder = metrics.Metrics()          # created before the fork, as in the server's main process
    children = []
    for requests in (3, 5):
        pid = os.fork()
        if pid == 0:
            for i in range(requests):
                recorder.in_flight.inc()
                recorder.observe(200 if i else 400, model_seconds=0.001, overhead_seconds=0.0002)
                recorder.batch_size.observe(2)
                recorder.in_flight.dec()
            recorder.in_flight.inc()      # one request still in flight when this worker dies
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    print(recorder.render().decode())
    for pid in children:
        metrics.worker_exited(pid)
    print("AFTER-EXIT")
    print(recorder.render().decode())
    metrics.remove_multiprocess_dir(made)
    print("REMOVED", not os.path.exists(made))
    """
)


def value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from:\n{text}")


def test_samples_from_forked_workers_are_summed_and_dead_workers_leave_no_live_gauge():
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    before, after = result.stdout.split("AFTER-EXIT")
    assert value(before, "byoc_invocations_total") == 8
    assert value(before, "byoc_invocation_4xx_errors_total") == 2
    assert value(before, "byoc_model_latency_seconds_count") == 8
    assert value(before, "byoc_batch_size_sum") == 16
    assert value(before, "byoc_invocations_in_flight") == 2
    # Counters survive their workers; the live in-flight gauge does not.
    assert value(after, "byoc_invocations_total") == 8
    assert value(after.split("REMOVED")[0], "byoc_invocations_in_flight") == 0
    assert "REMOVED True" in result.stdout


def test_outside_the_server_metrics_live_in_their_own_registry():
    from container.telemetry.metrics import Metrics

    first, second = Metrics(), Metrics()  # no duplicate-registration error
    first.observe(503, model_seconds=0.0, overhead_seconds=0.001)
    assert value(first.render().decode(), "byoc_invocation_5xx_errors_total") == 1
    assert value(second.render().decode(), "byoc_invocation_5xx_errors_total") == 0


def test_samples_recorded_in_a_turn_of_the_event_loop_read_as_if_observed_one_by_one():
    """Observations are added up per turn of the loop and written together: the same exposition."""
    import asyncio

    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from container.telemetry.metrics import LATENCY_BUCKETS, Metrics

    amounts = [0.0, 0.0001, 0.00009, 0.0007, 0.001, 0.02, 3.0, 61.0, 1e-9, 0.25, 0.25, 0.0025]
    recorder = Metrics()

    async def turn() -> str:
        for amount in amounts:
            recorder.observe(200, model_seconds=amount, overhead_seconds=amount)
        recorder.in_flight.inc()
        written = recorder.render().decode()  # render writes what this turn recorded
        await asyncio.sleep(0)
        return written

    rendered = asyncio.run(turn())
    registry = CollectorRegistry()
    reference = Histogram("byoc_overhead_latency_seconds", "x", buckets=LATENCY_BUCKETS, registry=registry)
    for amount in amounts:
        reference.observe(amount)
    expected = [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith("byoc_") and "_created" not in line
    ]
    got = [
        line
        for line in rendered.splitlines()
        if line.startswith("byoc_overhead_latency_seconds") and "_created" not in line
    ]
    assert got == expected
    assert value(rendered, "byoc_invocations_total") == len(amounts)
    assert value(rendered, "byoc_model_latency_seconds_count") == len(amounts) - 1  # 0.0: no model time
    assert value(rendered, "byoc_invocations_in_flight") == 1
