"""The targets of the issue, checked against one run's numbers, and the markdown report."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from deploy.tables import markdown_table

ROOT = str(Path(__file__).resolve().parent.parent) + "/"

PRIMARY = ("byoc-default-batching", "byoc-default")  # the first one measured is "this project"
CUSTOM = "byoc-custom"
BASELINES = ("mms", "mlserver", "flask-gevent", "flask-sync")
THROUGHPUT_FACTORS = {"mms": 5.0, "mlserver": 5.0, "flask-gevent": 3.0}
OVERHEAD_LIMIT_US = 300.0
BATCHING_P99_LIMIT = 1.10
MEMORY_LIMIT = 0.5
HEADLINE_WORKLOAD = "csv1"
BATCHING_PAIRS = (("byoc-default", "byoc-default-batching"), ("byoc-custom", "byoc-custom-batching"))


def _point(results: dict[str, Any], server: str, workload: str, concurrency: int) -> dict[str, Any] | None:
    for point in results["points"]:
        if (point["server"], point["workload"], point["concurrency"]) == (server, workload, concurrency):
            return point
    return None


def _label(results: dict[str, Any], name: str) -> str:
    for server in results["servers"]:
        if server["name"] == name:
            return server["label"]
    return name


def _row(target: str, measured: Any, threshold: str, passed: bool | None, detail: str = "") -> dict[str, Any]:
    # within_noise: set on the batching rows (see evaluate)
    return {
        "target": target,
        "measured": measured,
        "threshold": threshold,
        "pass": passed,
        "detail": detail,
        "within_noise": False,
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    concurrencies = results["settings"]["concurrency"]
    high = max(concurrencies)
    low = min(concurrencies)
    measured = {s["name"] for s in results["servers"] if not s.get("error")}
    primary = next((name for name in PRIMARY if name in measured), None)

    # 1. Throughput and p99 at the highest concurrency, 1-row CSV.
    for baseline, factor in THROUGHPUT_FACTORS.items():
        name = f"{HEADLINE_WORKLOAD} c={high}: {primary or PRIMARY[0]} vs {baseline}"
        ours = _point(results, primary, HEADLINE_WORKLOAD, high) if primary else None
        theirs = _point(results, baseline, HEADLINE_WORKLOAD, high) if baseline in measured else None
        if ours is None or theirs is None or not theirs["requests_per_s"]:
            rows.append(
                _row(f"{name}: throughput", None, f">= {factor:g}x", None, "not measured in this run")
            )
            rows.append(_row(f"{name}: p99", None, "lower", None, "not measured in this run"))
            continue
        ratio = ours["requests_per_s"] / theirs["requests_per_s"]
        clean = ours["error_count"] == 0 and theirs["error_count"] == 0
        errors = "" if clean else f"errors: ours {ours['error_count']}, theirs {theirs['error_count']}"
        rows.append(
            _row(
                f"{name}: throughput",
                f"{ratio:.2f}x ({ours['requests_per_s']:.0f} vs {theirs['requests_per_s']:.0f} req/s)",
                f">= {factor:g}x",
                ratio >= factor and clean,
                errors,
            )
        )
        rows.append(
            _row(
                f"{name}: p99",
                f"{ours['p99_ms']:.2f} vs {theirs['p99_ms']:.2f} ms "
                f"({ours['p99_ms'] / theirs['p99_ms']:.2f}x)",
                "lower",
                ours["p99_ms"] < theirs["p99_ms"] and clean,
                errors,
            )
        )

    # 2. The custom inference.py, batching off, still beats every baseline.
    for baseline in BASELINES:
        name = f"{HEADLINE_WORKLOAD} c={high}: {CUSTOM} vs {baseline}: throughput"
        ours = _point(results, CUSTOM, HEADLINE_WORKLOAD, high) if CUSTOM in measured else None
        theirs = _point(results, baseline, HEADLINE_WORKLOAD, high) if baseline in measured else None
        if ours is None or theirs is None or not theirs["requests_per_s"]:
            rows.append(_row(name, None, "> 1x", None, "not measured in this run"))
            continue
        ratio = ours["requests_per_s"] / theirs["requests_per_s"]
        rows.append(
            _row(
                name,
                f"{ratio:.2f}x ({ours['requests_per_s']:.0f} vs {theirs['requests_per_s']:.0f} req/s)",
                "> 1x",
                ratio > 1 and ours["error_count"] == 0,
                f"p99 {ours['p99_ms']:.2f} vs {theirs['p99_ms']:.2f} ms",
            )
        )

    # 3. Server overhead at concurrency 1 (the runtime's own headers).
    for sample in results["overhead"]:
        if sample["workload"] != HEADLINE_WORKLOAD:
            continue
        p50 = sample["overhead_us"].get("p50")
        rows.append(
            _row(
                f"{HEADLINE_WORKLOAD} c=1: {sample['server']}: overhead p50 (X-Overhead-Latency-Us)",
                None if p50 is None else f"{p50:.0f} us",
                f"< {OVERHEAD_LIMIT_US:.0f} us",
                None if p50 is None else p50 < OVERHEAD_LIMIT_US,
                f"{sample['samples']} requests; model p50 {sample['model_us'].get('p50')} us; "
                f"client-observed total minus model p50 "
                f"{sample['client_total_minus_model_us'].get('p50')} us",
            )
        )

    # 4. Batching does not make p99 worse by more than 10 % at concurrency 1: the medians of the
    # alternating rounds when the run has them, else the single points.
    for c in results.get("batching_c1") or []:
        row = _row(
            f"{c['workload']} c=1: p99 {c['on']} / {c['off']} (median of {len(c['p99_on_ms'])} rounds)",
            f"{c['ratio']:.2f} ({c['median_p99_on_ms']:.3f} vs {c['median_p99_off_ms']:.3f} ms)",
            f"<= {BATCHING_P99_LIMIT:.2f}",
            c["ratio"] <= BATCHING_P99_LIMIT,
            f"rounds on {', '.join(f'{v:.2f}' for v in c['p99_on_ms'])} ms; off "
            f"{', '.join(f'{v:.2f}' for v in c['p99_off_ms'])} ms; other processes up to "
            f"{c['max_other_cpu_share']:.0%} of the CPUs",
        )
        # A miss whose median lies inside the spread of batching off's own rounds is a difference
        # this run cannot tell from its noise: say so rather than let a bare FAIL stand for it.
        row["within_noise"] = not row["pass"] and min(c["p99_off_ms"]) <= c["median_p99_on_ms"] <= max(
            c["p99_off_ms"]
        )
        rows.append(row)
    for off, on in () if results.get("batching_c1") else BATCHING_PAIRS:
        for workload in results["settings"]["workloads"]:
            name = f"{workload['name']} c={low}: p99 {on} / {off}"
            a = _point(results, on, workload["name"], low) if on in measured else None
            b = _point(results, off, workload["name"], low) if off in measured else None
            if a is None or b is None or not b["p99_ms"]:
                if on in measured or off in measured:
                    rows.append(
                        _row(name, None, f"<= {BATCHING_P99_LIMIT:.2f}", None, "not measured in this run")
                    )
                continue
            ratio = a["p99_ms"] / b["p99_ms"]
            rows.append(
                _row(
                    name,
                    f"{ratio:.2f} ({a['p99_ms']:.3f} vs {b['p99_ms']:.3f} ms)",
                    f"<= {BATCHING_P99_LIMIT:.2f}",
                    ratio <= BATCHING_P99_LIMIT,
                )
            )

    # 5. Memory: what an extra worker costs, against the model's size.
    scaling = results.get("memory_scaling")
    if scaling:
        ratio = scaling["extra_worker_pss_over_model"]
        extra = scaling["extra_worker_mib"]
        rows.append(
            _row(
                "memory: PSS added per extra worker / model size",
                f"{ratio:.2f} ({extra['pss_mib']:.0f} MiB per worker, "
                f"model {scaling['model_file_mib']:.0f} MiB)",
                f"< {MEMORY_LIMIT}",
                ratio < MEMORY_LIMIT,
                f"USS {extra['uss_mib']:.0f} MiB, RSS {extra['rss_mib']:.0f} MiB per extra worker; "
                f"of the PSS, {scaling.get('model_share_per_worker_pss_mib', '-')} MiB is the model's "
                "(small-model run subtracted)",
            )
        )
    return rows


# --- markdown ----------------------------------------------------------------------------------


def _verdict(row: dict[str, Any]) -> str:
    if row.get("within_noise"):
        return "**FAIL** (within noise: off's own rounds span the on median)"
    return {True: "pass", False: "**FAIL**", None: "n/a"}[row["pass"]]


def targets_table(rows: list[dict[str, Any]]) -> str:
    return markdown_table(
        ["target", "measured", "threshold", "result", "detail"],
        [
            [
                row["target"],
                row["measured"] if row["measured"] is not None else "-",
                row["threshold"],
                _verdict(row),
                row["detail"],
            ]
            for row in rows
        ],
    )


def _rps(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def results_table(results: dict[str, Any]) -> str:
    concurrencies = results["settings"]["concurrency"]
    headers = ["server", "workload"]
    for c in concurrencies:
        headers += [f"c={c} req/s", f"c={c} p50 / p99 ms"]
    titles = {w["name"]: w["title"] for w in results["settings"]["workloads"]}
    rows: list[list[object]] = []
    for server in results["servers"]:
        if server.get("error"):
            failed = f"failed: {server['error'][:120]}"
            rows.append([server["label"], "all", failed, *[""] * (2 * len(concurrencies) - 1)])
            continue
        for workload in results["settings"]["workloads"]:
            cells: list[object] = [server["label"], titles[workload["name"]]]
            for c in concurrencies:
                point = _point(results, server["name"], workload["name"], c)
                if point is None:
                    cells += ["-", "-"]
                    continue
                errors = f" ({point['error_count']} errors)" if point["error_count"] else ""
                noisy = point.get("other_cpu_share", 0) > results["settings"].get("noisy_limit", 1)
                errors += f" (noisy: {point['other_cpu_share']:.0%})" if noisy else ""
                cells += [
                    _rps(point["requests_per_s"]) + errors,
                    f"{_ms(point['p50_ms'])} / {_ms(point['p99_ms'])}",
                ]
            rows.append(cells)
    return markdown_table(headers, rows, right=range(2, len(headers)))


def startup_table(results: dict[str, Any]) -> str:
    headers = [
        "server",
        "workers",
        "/ping 200 (s)",
        "first prediction (s)",
        "503s after ready",
        "processes",
        "RSS idle / after load (MiB)",
        "PSS idle / after load (MiB)",
    ]
    rows = []
    for server in results["servers"]:
        cold = server.get("cold_start") or {}
        idle = server.get("memory_idle") or {}
        loaded = server.get("memory_after_load") or {}
        rows.append(
            [
                server["label"],
                server["workers"],
                cold.get("ping_s", "-"),
                cold.get("first_prediction_s", "-"),
                (server.get("answers") or {}).get("not_ready_after_ping", "-"),
                loaded.get("processes", idle.get("processes", "-")),
                f"{idle.get('rss_mib', '-')} / {loaded.get('rss_mib', '-')}",
                f"{idle.get('pss_mib', '-')} / {loaded.get('pss_mib', '-')}",
            ]
        )
    return markdown_table(headers, rows, right=range(2, len(headers)))


def overhead_table(results: dict[str, Any]) -> str:
    headers = [
        "server",
        "workload",
        "samples",
        "overhead p50 / p90 / p99 (us)",
        "model p50 (us)",
        "client total p50 (us)",
    ]
    rows = []
    for sample in results["overhead"]:
        o, m, c = sample["overhead_us"], sample["model_us"], sample["client_total_us"]
        rows.append(
            [
                _label(results, sample["server"]),
                sample["workload"],
                sample["samples"],
                f"{o.get('p50', '-')} / {o.get('p90', '-')} / {o.get('p99', '-')}",
                m.get("p50", "-"),
                c.get("p50", "-"),
            ]
        )
    return markdown_table(headers, rows, right=range(2, len(headers)))


def memory_table(scaling: dict[str, Any]) -> str:
    headers = [
        "model",
        "workers",
        "processes",
        "total RSS / PSS / USS (MiB)",
        "master PSS (MiB)",
        "each worker PSS / USS (MiB)",
    ]
    rows = []
    for label, key in (("large", "runs"), ("small", "small_model_runs")):
        for run in scaling.get(key, []):
            total = run["total"]
            rows.append(
                [
                    label,
                    run["workers"],
                    total["processes"],
                    f"{total['rss_mib']} / {total['pss_mib']} / {total['uss_mib']}",
                    run["master_mib"]["pss_mib"],
                    ", ".join(f"{w['pss_mib']:.0f} / {w['uss_mib']:.0f}" for w in run["workers_mib"]),
                ]
            )
    extra, base = scaling["extra_worker_mib"], scaling.get("small_model_extra_worker_mib", {})
    summary = (
        f"Large model: a {scaling['model_file_mib']} MiB joblib file. Each extra worker adds "
        f"{extra['pss_mib']} MiB PSS ({scaling['extra_worker_pss_over_model']:.2f} of the model), "
        f"{extra['uss_mib']} MiB USS, {extra['rss_mib']} MiB RSS. With the small model an extra worker adds "
        f"{base.get('pss_mib', '-')} MiB PSS "
        f"(interpreter and libraries), so the model's own share per extra worker is "
        f"{scaling.get('model_share_per_worker_pss_mib', '-')} MiB."
    )
    return markdown_table(headers, rows, right=range(1, 5)) + "\n" + summary + "\n"


def machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (
        f"{m['cpus']} x {m['cpu']}, {m['memory_gib']} GiB, {m['os']} (kernel {m['kernel']}), "
        f"Python {m['python']}, "
        f"{m['wrk']}, {m['java'] or 'no Java'}; {m['note']}; 1-minute load average "
        f"{m.get('load_average_at_start', 0):.2f} at start, {m.get('load_average_at_end', 0):.2f} at end. "
        f"Runtime measured: commit {m.get('runtime', '?')}"
    )


def _relative(command: str, results: dict[str, Any]) -> str:
    """`command` with the paths of the checkout the run used shown relative to it."""
    return command.replace(results.get("root", ROOT), "")


def commands_section(results: dict[str, Any]) -> str:
    lines = []
    for server in results["servers"]:
        versions = ", ".join(f"{k} {v}" for k, v in server.get("versions", {}).items())
        lines.append(
            f"- **{server['label']}** (`{server['name']}`), workers: {server['workers']}"
            + (f"; {versions}" if versions else "")
        )
        lines.append(f"  - `{_relative(server['command'], results)}`")
        for note in server.get("notes", []):
            lines.append(f"  - {note}")
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    parts = [
        "# Benchmark results\n",
        f"Run {results['generated_at']} on: {machine_line(results)}.\n",
        f"Model: {s['model']['estimator']} on {s['model']['features']} features ({s['model']['data']}), "
        f"joblib file {s['model']['file_bytes']} bytes; every server answers predictions and probabilities. "
        f"Load: `{s['wrk']}`, {s['duration_s']} s per point after {s['warmup_s']} s of warm-up per workload"
        + (" (quick smoke run: not for comparison)" if s["quick"] else "")
        + ".\n",
        "![throughput and latency against concurrency](latest.png)\n",
        "## Throughput and latency\n",
        '"noisy: N%": other processes on the machine used N% of its CPUs during that point, even on the '
        f"quietest of up to {s.get('noisy_retries', 0) + 1} attempts.\n",
        results_table(results),
        "## Targets\n",
        targets_table(results["targets"]),
        "## Cold start and memory\n",
        "Cold start: from process start to the first 200 on the health route (`/ping`, or "
        "`/v2/health/ready` for MLServer), and to the first successful prediction. Memory: the whole "
        "process tree (master and workers; for MMS the Java frontend and its Python workers), from "
        "/proc/PID/smaps_rollup.\n",
        startup_table(results),
    ]
    if results["overhead"]:
        parts += [
            "## Server overhead at concurrency 1\n",
            "Sequential requests on one keep-alive connection; overhead and model time are the runtime's "
            "X-Overhead-Latency-Us and X-Model-Latency-Us headers, client total is measured by the client.\n",
            overhead_table(results),
        ]
    if results.get("memory_scaling"):
        parts += [
            "## Memory per worker (large model, byoc default handler)\n",
            memory_table(results["memory_scaling"]),
        ]
    parts += ["## How each server was started\n", commands_section(results)]
    return "\n".join(parts)


# --- the generated parts of README.md and bench/README.md --------------------------------------
#
# Each is a region between two HTML comments, rewritten from a run's JSON by publish() (run.py calls
# it after a run into bench/results/; `python -m bench.report JSON --docs` does it by hand). The
# prose around them (what made it fast, what limits throughput) is written by hand.

REGION_START = "<!-- generated by bench/report.py ({name}): edit the prose around it, not this -->"
REGION_END = "<!-- end of generated {name} -->"
README_REGION = "benchmark summary"
BENCH_README_REGION = "latest run"


def summary_section(results: dict[str, Any], bench_dir: str = "bench") -> str:
    """README.md's summary: the headline ratios, one table row per server, the plot."""
    s = results["settings"]
    high, low = max(s["concurrency"]), min(s["concurrency"])
    title = next(w["title"] for w in s["workloads"] if w["name"] == HEADLINE_WORKLOAD)
    rows = results["targets"]
    met = sum(1 for row in rows if row["pass"])
    noise = sum(1 for row in rows if row.get("within_noise"))
    verdict = f"{met} of {len(rows)} targets met"
    misses = len(rows) - met
    if noise:
        share = f"the {misses} misses are" if noise == misses else f"{noise} of the {misses} misses are"
        verdict += f"; {share} within the run's noise"
    quick = ", a quick smoke run: not for comparison" if s["quick"] else ""
    intro = (
        f"From the latest `make bench` run ({results['generated_at'][:10]}, commit "
        f"{results['machine'].get('runtime', '?')}{quick}): {title} requests, every server on the same "
        f"machine with the same model. {verdict}. The machine, every table and the analysis are in "
        f"[{bench_dir}/README.md]({bench_dir}/README.md)."
    )
    lines = [
        _paragraph(intro),
        "",
        f"| server | c={low} p50 / p99 ms | c={high} req/s | c={high} p50 / p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for server in results["servers"]:
        if server.get("error"):
            lines.append(f"| {server['label']} | failed | | |")
            continue
        one = _point(results, server["name"], HEADLINE_WORKLOAD, low)
        many = _point(results, server["name"], HEADLINE_WORKLOAD, high)
        lines.append(
            f"| {server['label']} | {_latency(one)} | {_rps(many['requests_per_s']) if many else '-'} "
            f"| {_latency(many)} |"
        )
    lines += ["", f"![throughput and p50/p99 latency against concurrency]({bench_dir}/results/latest.png)"]
    return "\n".join(lines) + "\n"


def _latency(point: dict[str, Any] | None) -> str:
    return f"{_ms(point['p50_ms'])} / {_ms(point['p99_ms'])}" if point else "-"


def latest_section(results: dict[str, Any], results_dir: str = "results") -> str:
    """bench/README.md's latest run: the machine, the plot, every point, the targets, the commands."""
    return "\n".join(
        [
            _paragraph(f"Run {results['generated_at']}: {machine_line(results)}.") + "\n",
            f"![throughput and p50/p99 latency against concurrency]({results_dir}/latest.png)\n",
            results_table(results),
            targets_table(results["targets"]),
            f"How each server was started (exact commands and versions in [{results_dir}/latest.md]"
            f"({results_dir}/latest.md)):\n",
            commands_summary(results),
        ]
    )


def _paragraph(text: str, indent: str = "") -> str:
    # Prose in the READMEs stays under 120 characters a line (tables may be wider).
    return "\n".join(
        textwrap.wrap(text, 110, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)
    )


def replace_region(text: str, name: str, content: str) -> str:
    """Text with the generated region `name` holding `content`; ValueError if its markers are missing."""
    start, end = REGION_START.format(name=name), REGION_END.format(name=name)
    head, found_start, rest = text.partition(start + "\n")
    _, found_end, tail = rest.partition(end)
    if not found_start or not found_end:
        raise ValueError(f"no generated region {name!r} (the markers {start!r} and {end!r})")
    return f"{head}{start}\n{content.rstrip()}\n{end}{tail}"


def published(results: dict[str, Any], root: Path = Path(ROOT)) -> dict[Path, str]:
    """README.md and bench/README.md as they read with their generated regions drawn from a run."""
    targets = [
        (root / "README.md", README_REGION, summary_section(results)),
        (root / "bench" / "README.md", BENCH_README_REGION, latest_section(results)),
    ]
    return {path: replace_region(path.read_text(), name, content) for path, name, content in targets}


def publish(results: dict[str, Any], root: Path = Path(ROOT)) -> list[Path]:
    """Rewrite the generated regions of README.md and bench/README.md from a run; the files written."""
    # Every region is found before any file is written: a missing marker changes nothing.
    texts = published(results, root)
    for path, text in texts.items():
        path.write_text(text)
    return list(texts)


def commands_summary(results: dict[str, Any]) -> str:
    lines = []
    for server in results["servers"]:
        first_note = server["notes"][0] if server.get("notes") else ""
        command = _relative(server["command"].split("  #")[0], results)
        line = f"- {server['label']}: `{command}`; workers {server['workers']}. {first_note}"
        lines.append(_paragraph(line, indent="  "))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # python -m bench.report RESULTS.json [--docs]: rewrite the markdown next to the JSON from it, or
    # the generated regions of README.md and bench/README.md.
    import json
    import sys

    source = Path(sys.argv[1])
    loaded = json.loads(source.read_text())
    if "--docs" in sys.argv[2:]:
        for written in publish(loaded):
            print(f"rewrote the generated region of {written}")
    else:
        source.with_suffix(".md").write_text(markdown(loaded))
