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
