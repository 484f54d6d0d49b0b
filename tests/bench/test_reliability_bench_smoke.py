"""Smoke test of the reliability benchmark (bench/reliability.py): its quickest mode, this tree only.

Checks that the figures the README's reliability table quotes are written, with sane fields. It
asserts no timing and no ratio: the numbers of a 1 s run on a shared machine mean nothing; only
outcomes that do not depend on the machine's speed are checked (a 431 for the oversized headers,
every /ping answered under the slowloris, a clean exit after SIGTERM).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("reliability")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))}
    argv = [
        *(sys.executable, "-m", "bench.reliability", "--quick", "--out", str(out)),
        *("--ping-points", "csv1:8", "--poison-rates", "32"),
    ]
    completed = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert (out / "reliability.md").read_text().startswith("# Reliability figures")
    return json.loads((out / "reliability.json").read_text())


def test_every_section_is_measured(results: dict) -> None:
    assert set(results) >= {"poisoning", "ping_under_load", "headers", "slowloris", "sigterm", "machine"}
    assert results["settings"]["trees"]["this tree"]


def test_poisoning_compares_clean_and_poisoned_runs(results: dict) -> None:
    assert [(p["poison"], p["server"]) for p in results["poisoning"]] == [
        ("nan", "this tree"),
        ("raising", "this tree"),
    ]
    for entry in results["poisoning"]:
        assert set(entry["median_requests_per_s"]) == {"clean", "1/32"}
        assert entry["ratio_to_clean"]["1/32"] > 0
        poisoned = entry["runs"]["1/32"][0]
        assert poisoned["errors"]["status"] > 0  # the poisoned requests were refused, as they must be
        assert entry["runs"]["clean"][0]["errors"]["status"] == 0


def test_ping_latency_is_measured_under_load(results: dict) -> None:
    points = {(p["workload"], p["connections"]): p for p in results["ping_under_load"]}
    assert set(points) == {("idle", 0), ("csv1", 8)}
    loaded = points[("csv1", 8)]
    assert loaded["requests_per_s"] > 0 and loaded["ping"]["pings"] > 0 and loaded["ping"]["failures"] == 0
    assert 0 < loaded["ping"]["p50_ms"] <= loaded["ping"]["p99_ms"]


def test_the_hostile_clients_were_held_off(results: dict) -> None:
    (headers,) = results["headers"]
    assert headers["answers"] == ["HTTP/1.1 431 Request Header Fields Too Large"]
    (slowloris,) = results["slowloris"]
    assert slowloris["ping"]["failures"] == 0 and slowloris["ping"]["pings"] == 50
    (sigterm,) = results["sigterm"]
    assert sigterm["exit_status"] == 0 and sigterm["upload_answered"].startswith("HTTP/1.1 503")
