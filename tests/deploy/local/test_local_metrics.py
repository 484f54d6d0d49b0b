"""The front's metric counters and latency split, named as CloudWatch names them (no Docker)."""

from __future__ import annotations

from deploy.endpoint_metrics import NAMES
from deploy.local.metrics import Counters, latencies, metrics_table


def test_counters_count_and_average() -> None:
    counters = Counters()
    counters.record(200, 1000.0, 300.0)
    counters.record(400, 3000.0, 100.0)
    counters.record(500, None, None)  # no container answered: counted, not timed
    snapshot = counters.snapshot()
    assert set(NAMES) <= set(snapshot)
    assert snapshot["Invocations"] == 3
    assert snapshot["Invocation4XXErrors"] == 1
    assert snapshot["Invocation5XXErrors"] == 1
    assert snapshot["ModelLatency"] == 2000.0
    assert snapshot["OverheadLatency"] == 200.0
    assert Counters().snapshot()["ModelLatency"] == 0.0


def test_latencies_split_model_time_from_overhead() -> None:
    headers = {"X-Model-Latency-Us": "1000", "X-Overhead-Latency-Us": "200"}
    model, overhead = latencies(headers, round_trip_us=1500, front_total_us=1800)
    assert model == 1000
    assert overhead == 200 + 300 + 300  # the container's own, the hop, the front's
    # Another image without the headers: the round trip is the model's time.
    assert latencies({}, round_trip_us=1500, front_total_us=1800) == (1500, 300)


def test_the_table_prints_a_row_per_metric() -> None:
    rows = [line.split() for line in metrics_table({"Invocations": 2.0, "ModelLatency": 1234.5}).splitlines()]
    assert rows[2:] == [["Invocations", "2"], ["ModelLatency", "1,234.50"]]
