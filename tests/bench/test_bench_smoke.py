"""Smoke test of the benchmark harness (bench/): its quickest mode, this project's server only.

Runs `python -m bench --quick` against the byoc server (the default handler and the seed's
inference.py, batching off and on) and the bare ASGI app (no baselines, no images, 1 s per point)
and checks that the JSON, markdown and PNG are written with sane fields. It asserts no timing: the
numbers of a 1 s run on a shared machine mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["byoc-default", "byoc-default-batching", "byoc-seed-off", "byoc-seed", "asgi-constant"]
BYOC = SERVERS[:4]
WORKLOADS = {"csv1", "json1", "csv100", "csv1000"}
CONCURRENCY = {1, 8, 64}
HEAVY = {"csv1000": {8, 64}}  # the 1,000-row workloads skip one connection

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--servers",
            ",".join(SERVERS),
            "--workloads",
            ",".join(sorted(WORKLOADS)),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def results(results_dir: Path) -> dict:
    return json.loads((results_dir / "latest.json").read_text())


def test_every_server_answered_and_was_stopped(results: dict) -> None:
    assert [s["name"] for s in results["servers"]] == SERVERS
    for server in results["servers"]:
        assert server["error"] is None
        assert server["answers"]["predictions_and_probabilities"] is True
        assert server["cold_start"]["ping_s"] > 0
        assert server["cold_start"]["first_prediction_s"] >= server["cold_start"]["ping_s"]
        assert server["memory_after_load"]["processes"] >= 2  # the master and its workers
        assert server["memory_after_load"]["pss_mib"] > 0
        assert server["exit_status"] == 0  # stopped with SIGTERM, cleanly
    for server in results["servers"][:4]:
        assert "serve" in server["command"]
    assert [s["env"]["BYOC_BATCHING"] for s in results["servers"][:4]] == ["off", "on", "off", "on"]
    assert "constant_app" in results["servers"][4]["command"]
    assert results["images"] is None  # not with --quick


def test_a_point_for_every_server_workload_and_concurrency(results: dict) -> None:
    seen = {(p["server"], p["workload"], p["concurrency"]) for p in results["points"]}
    expected = {(s, w, c) for s in BYOC for w in WORKLOADS for c in HEAVY.get(w, CONCURRENCY)}
    assert seen == expected | {("asgi-constant", "csv1", c) for c in CONCURRENCY}
    for point in results["points"]:
        assert point["requests"] > 0
        assert point["requests_per_s"] > 0
        assert 0 < point["p50_ms"] <= point["p99_ms"]
        assert point["error_count"] == 0


def test_overhead_is_read_from_the_runtime_headers(results: dict) -> None:
    samples = {(s["server"], s["workload"]): s for s in results["overhead"]}
    assert set(samples) == {(s, w) for s in BYOC for w in WORKLOADS - set(HEAVY)}
    for sample in samples.values():
        assert sample["samples"] > 0 and sample["failures"] == 0
        assert {"p50", "p90", "p99"} <= set(sample["overhead_us"]) and sample["model_us"]["p50"] > 0


def test_answers_with_batching_on_are_compared_body_by_body(results: dict) -> None:
    compared = {(c["on"], c["workload"]): c for c in results["same_answers"]}
    assert set(compared) == {(on, w) for on in ("byoc-default-batching", "byoc-seed") for w in WORKLOADS}
    for (on, _), c in compared.items():
        assert c["bodies"] > 0
        if on == "byoc-seed":
            assert c["differing"] == 0, c  # checked batching never changes an answer


def test_memory_scaling_and_targets(results: dict) -> None:
    scaling = results["memory_scaling"]
    assert [run["workers"] for run in scaling["runs"]] == [1, 2]
    assert [len(run["workers_mib"]) for run in scaling["runs"]] == [1, 2]
    assert scaling["model_file_mib"] >= 16
    targets = results["targets"]
    assert all(
        set(t) == {"target", "measured", "threshold", "pass", "detail", "within_noise"} for t in targets
    )
    assert all(t["pass"] in (True, False, None) for t in targets)
    # Baselines were not run: their comparisons are reported as not measured, never as failures.
    assert all(t["pass"] is None for t in targets if " vs " in t["target"])
    measured = {t["target"].split(":")[0] for t in targets if t["pass"] is not None}
    assert "csv1 c=1" in measured  # overhead and batching p99 were checked
    assert any(t["target"].startswith("memory") and t["pass"] is not None for t in targets)


def test_markdown_and_plot(results_dir: Path) -> None:
    markdown = (results_dir / "latest.md").read_text()
    for heading in (
        "## Throughput and latency",
        "## Targets",
        "## Ratios at 64 connections",
        "## Same answers with batching on",
        "## Cold start and memory",
        "## How each",
    ):
        assert heading in markdown
    assert "byoc default handler, batching on" in markdown and "latest.png" in markdown
    png = (results_dir / "latest.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
