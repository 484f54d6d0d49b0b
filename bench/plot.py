"""Plot a results JSON: throughput and p50/p99 latency against concurrency, one panel per workload.

    python bench/plot.py latest.json latest.png

Runs in any interpreter with matplotlib (the harness picks one); reads nothing but the JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLUMNS = 3  # workloads per row of panels
COLORS = {
    "byoc-default": "#1f77b4",
    "byoc-default-batching": "#17becf",
    "byoc-seed-off": "#98df8a",
    "byoc-seed": "#2ca02c",
    "asgi-constant": "#7f7f7f",
    "mms": "#d62728",
    "flask-sync": "#ff7f0e",
    "flask-gevent": "#9467bd",
    "mlserver": "#8c564b",
}


def main(argv: list[str]) -> int:
    results = json.loads(Path(argv[0]).read_text())
    workloads = results["settings"]["workloads"]
    servers = [s for s in results["servers"] if not s.get("error")]
    columns = min(COLUMNS, len(workloads))
    bands = -(-len(workloads) // columns)  # a band is a row of throughput panels over latency ones
    figure, axes = plt.subplots(2 * bands, columns, figsize=(6 * columns, 8.5 * bands), squeeze=False)
    for index in range(len(workloads), bands * columns):  # the empty places of the last band
        band, column = divmod(index, columns)
        axes[2 * band][column].set_visible(False)
        axes[2 * band + 1][column].set_visible(False)
    for index, workload in enumerate(workloads):
        band, column = divmod(index, columns)
        top, bottom = axes[2 * band][column], axes[2 * band + 1][column]
        for server in servers:
            points = sorted(
                (
                    p
                    for p in results["points"]
                    if p["server"] == server["name"] and p["workload"] == workload["name"]
                ),
                key=lambda p: p["concurrency"],
            )
            if not points:
                continue
            x = [p["concurrency"] for p in points]
            color = COLORS.get(server["name"])
            top.plot(x, [p["requests_per_s"] for p in points], marker="o", color=color, label=server["label"])
            bottom.plot(
                x, [p["p99_ms"] for p in points], marker="o", color=color, label=f"{server['label']} p99"
            )
            bottom.plot(x, [p["p50_ms"] for p in points], marker=".", linestyle="--", color=color)
        top.set_title(f"{workload['title']}: throughput")
        top.set_ylabel("requests / s (log)")
        bottom.set_title(f"{workload['title']}: latency, p99 solid, p50 dashed")
        bottom.set_ylabel("ms (log)")
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("concurrent connections")
            concurrency = results["settings"]["concurrency"]
            ax.set_xticks(concurrency, [str(c) for c in concurrency])
            ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    m = results["machine"]
    quick = " (quick smoke run)" if results["settings"]["quick"] else ""
    model = results["settings"]["model"]
    figure.suptitle(
        f"{model['estimator']}, {model['features']} features, predictions + probabilities; wrk -t1, "
        f"{results['settings']['duration_s']} s per point{quick}\n"
        f"{m['cpus']} x {m['cpu']}, {m['memory_gib']} GiB, {m['os']}, Python {m['python']}, "
        f"{results['generated_at']}",
        fontsize=11,
    )
    figure.tight_layout(rect=(0, 0.04, 1, 0.96))
    figure.savefig(argv[1], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
