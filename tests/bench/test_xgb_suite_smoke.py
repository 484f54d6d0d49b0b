"""Smoke test of the XGBoost benchmark (bench/xgb_suite.py): its quickest mode, this project's server only.

Checks that the run serves the benchmark Booster, measures every point and writes its report. No
timing is asserted: the numbers of a 1 s run on a shared machine mean nothing.
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


def test_quick_run_serves_the_booster_and_writes_the_report(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))}
    command = ["-m", "bench.xgb_suite", "--quick", "--servers", "byoc-xgboost", "--concurrency", "1,8"]
    completed = subprocess.run(
        [sys.executable, *command, "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((tmp_path / "xgboost.json").read_text())
    (server,) = results["servers"]
    assert server["error"] is None
    assert server["env"]["BYOC_HANDLER"] == "xgboost"
    assert [len(server["answers"][w]) for w in ("csv1", "csv100")] == [1, 100]
    assert all(0.0 < score < 1.0 for score in server["answers"]["csv100"])  # binary:logistic scores
    assert {(p["workload"], p["concurrency"]) for p in results["points"]} == {
        (w, c) for w in ("csv1", "csv100") for c in (1, 8)
    }
    assert all(p["error_count"] == 0 and p["requests"] > 0 for p in results["points"])
    assert server["exit_status"] == 0
    assert "byoc XGBoost handler" in (tmp_path / "xgboost.md").read_text()
