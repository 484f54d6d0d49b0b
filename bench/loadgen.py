"""Load: wrk (an external process) for throughput and latency, and a small sequential Python client
that reads the runtime's X-Model-Latency-Us / X-Overhead-Latency-Us headers at concurrency 1.

Both are bounded: wrk by -d (and a subprocess timeout), the client by a request count and a time
limit. Both talk to 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from container.serving.server_process import LOOPBACK

LUA = Path(__file__).resolve().parent / "wrk" / "post.lua"
WRK_TIMEOUT_S = 30  # a request slower than this counts as a timeout error in wrk


def run_wrk(
    wrk: str,
    port: int,
    path: str,
    payload: Path,
    content_type: str,
    accept: str,
    connections: int,
    duration_s: int,
    script: Path = LUA,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One wrk run; `script` and `extra` (its arguments after the accept type) for other request mixes."""
    url = f"http://{LOOPBACK}:{port}{path}"
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "-s",
        str(script),
        url,
        "--",
        str(payload),
        content_type,
        accept,
        *extra,
    ]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + WRK_TIMEOUT_S + 30, check=False
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line[len("BENCH_JSON ") :])
            break
    else:
        raise RuntimeError(f"wrk printed no summary (exit {result.returncode}): {result.stderr[-500:]}")
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    lat = raw["latency_us"]
    failed = errors["status"] + errors["timeout"] + errors["connect"] + errors["read"] + errors["write"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "errors": errors,
        "error_count": failed,
        "command": " ".join([*argv[:1], "-t1", f"-c{connections}", f"-d{duration_s}s"]),
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50": round(pick(0.50), 1),
        "p90": round(pick(0.90), 1),
        "p99": round(pick(0.99), 1),
        "mean": round(statistics.fmean(ordered), 1),
    }


def collect_headers(
    port: int,
    path: str,
    body: bytes,
    content_type: str,
    accept: str,
    max_requests: int,
    max_seconds: float,
) -> dict[str, Any]:
    """Sequential requests on one keep-alive connection; the server's own split of its time (raw)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    headers = {"Content-Type": content_type, "Accept": accept}
    collected: dict[str, Any] = {"overhead": [], "model": [], "client_total": [], "failures": 0}
    deadline = time.monotonic() + max_seconds
    try:
        for _ in range(max_requests):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed_us = (time.perf_counter() - started) * 1e6
            model_us = response.getheader("X-Model-Latency-Us")
            overhead_us = response.getheader("X-Overhead-Latency-Us")
            if response.status != 200 or model_us is None or overhead_us is None:
                collected["failures"] += 1
                continue
            collected["model"].append(float(model_us))
            collected["overhead"].append(float(overhead_us))
            collected["client_total"].append(elapsed_us)
    finally:
        connection.close()
    return collected


def merge_headers(parts: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"overhead": [], "model": [], "client_total": [], "failures": 0}
    for part in parts:
        for key in ("overhead", "model", "client_total"):
            merged[key].extend(part[key])
        merged["failures"] += part["failures"]
    return merged


def summarize_headers(collected: dict[str, Any]) -> dict[str, Any]:
    minus_model = [t - m for t, m in zip(collected["client_total"], collected["model"], strict=True)]
    return {
        "samples": len(collected["overhead"]),
        "failures": collected["failures"],
        "overhead_us": _percentiles(collected["overhead"]),
        "model_us": _percentiles(collected["model"]),
        "client_total_us": _percentiles(collected["client_total"]),
        "client_total_minus_model_us": _percentiles(minus_model),
    }
