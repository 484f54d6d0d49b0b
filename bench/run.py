"""`make bench`: every server on loopback, the same model and payloads, wrk at each concurrency.

    .venv/bin/python -m bench [--quick] [--servers a,b] [--out DIR] [--duration S] ...

Writes OUT/latest.json (everything measured), OUT/latest.md (the tables) and OUT/latest.png (the
plot); into bench/results/ (the default), it also rewrites the generated results in README.md and
bench/README.md (bench/report.py's publish). Logs, payloads and per-server files go to OUT/raw/
(git-ignored). Every server it starts is stopped on the way out, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import loadgen, model, report, setup_env, stacks
from bench.procs import ForeignCpu, Server, Supervisor, http, tree_memory
from container.serving.server_process import LOOPBACK, free_port

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"
DEFAULT_SERVERS = [s.name for s in stacks.STACKS]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s points, no warm-up, small samples"
    )
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS), help="comma-separated; default: all")
    parser.add_argument("--workloads", default=",".join(w.name for w in model.WORKLOADS))
    parser.add_argument("--concurrency", default="1,8,64", help="wrk connections per point")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk point")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (8 conns) per workload")
    parser.add_argument(
        "--samples", type=int, default=2000, help="requests for the header-based overhead sample"
    )
    parser.add_argument("--memory-model-mb", type=int, default=256, help="padding of the memory-test model")
    parser.add_argument("--memory-workers", default=f"1,{max(2, os.cpu_count() or 1) * 2}")
    parser.add_argument("--no-memory", action="store_true", help="skip the worker-memory measurement")
    parser.add_argument("--max-batch-size", help="BYOC_MAX_BATCH_SIZE for the batching-on servers")
    parser.add_argument("--max-batch-delay-ms", help="BYOC_MAX_BATCH_DELAY_MS for the batching-on servers")
    parser.add_argument(
        "--noisy-limit",
        type=float,
        default=0.10,
        help="share of all CPUs other processes may use during a point",
    )
    parser.add_argument(
        "--noisy-retries", type=int, default=2, help="measure a noisier point again, at most N times"
    )
    parser.add_argument(
        "--noisy-budget", type=int, default=300, help="seconds of re-measuring the whole run may spend"
    )
    parser.add_argument(
        "--batching-rounds", type=int, default=5, help="alternating c=1 rounds for the batching p99 check"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where latest.{json,md,png} go")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.samples = 1, 0, min(args.samples, 100)
        args.noisy_retries = 0
        args.batching_rounds = 1
        args.memory_model_mb = min(args.memory_model_mb, 16)
        args.memory_workers = "1,2"
    args.noisy_spent_s = 0
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in args.servers if name not in stacks.BY_NAME]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_SERVERS)}")
    args.workloads = [w for w in model.WORKLOADS if w.name in args.workloads.split(",")]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.memory_workers = [int(w) for w in args.memory_workers.split(",")]
    return args


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    raw = out / "raw"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    started = time.monotonic()
    installer = setup_env.Installer(raw / "install.log")
    wrk = installer.ensure_wrk()
    if "mms" in args.servers:
        installer.ensure_java()
    chosen = [stacks.BY_NAME[name] for name in args.servers]
    venvs = {stack.name: stacks.venv_for(stack, installer) for stack in chosen}

    model_file = model.write_model(raw / "model")
    payloads = write_payloads(raw / "payloads", args.workloads)
    batch_env = {}
    if args.max_batch_size:
        batch_env["BYOC_MAX_BATCH_SIZE"] = str(args.max_batch_size)
    if args.max_batch_delay_ms:
        batch_env["BYOC_MAX_BATCH_DELAY_MS"] = str(args.max_batch_delay_ms)

    results: dict[str, Any] = {
        "schema": 1,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The checkout the servers ran from: the report shows commands relative to it, wherever the
        # report is made.
        "root": report.ROOT,
        "machine": machine_facts(wrk),
        "settings": {
            "quick": args.quick,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "workloads": [{"name": w.name, "title": w.title, "rows": w.rows} for w in args.workloads],
            "wrk": f"wrk -t1 -cN -dDURATION --timeout {loadgen.WRK_TIMEOUT_S}s -s bench/wrk/post.lua",
            "overhead_samples": args.samples,
            "memory_model_mb": args.memory_model_mb,
            "noisy_limit": args.noisy_limit,
            "batching_rounds": args.batching_rounds,
            "noisy_retries": args.noisy_retries,
            "noisy_budget_s": args.noisy_budget,
            "model": {
                "estimator": "LogisticRegression",
                "features": model.N_FEATURES,
                "data": f"make_classification(n_samples=2000, random_state={model.SEED})",
                "file_bytes": model_file.stat().st_size,
            },
            "batching_env": {"on": {"BYOC_BATCHING": "on", **batch_env}, "off": {"BYOC_BATCHING": "off"}},
        },
        "servers": [],
        "points": [],
        "overhead": [],
        "batching_c1": [],
        "memory_scaling": None,
    }
    with Supervisor() as supervisor:
        running = [
            start_stack(stack, venvs[stack.name], args, model_file, payloads, raw, supervisor, batch_env)
            for stack in chosen
        ]
        results["servers"] = [r.info for r in running]
        live = [r for r in running if r.info["error"] is None]
        try:
            results["points"] = measure_all(live, args, payloads, wrk)
            for r in live:
                r.info["memory_after_load"] = summary_memory(tree_memory(r.server.pid))
            # What is left compares this runtime with itself at one connection, where p99 is a few
            # milliseconds: the idle baselines (a JVM, MLServer's workers) would only add noise to it.
            for r in live:
                if r.stack.family != "byoc":
                    r.info["exit_status"] = supervisor.stop(r.server)
            ours = [r for r in live if r.stack.family == "byoc"]
            results["batching_c1"] = batching_rounds(ours, args, payloads, wrk)
            results["overhead"] = overhead_all(ours, args, payloads)
        finally:
            for r in running:
                if r.server in supervisor.servers:
                    r.info["exit_status"] = supervisor.stop(r.server)
        if not args.no_memory:
            say(
                f"== memory: byoc default handler, {args.memory_model_mb} MB model, "
                f"workers {args.memory_workers}"
            )
            results["memory_scaling"] = memory_scaling(args, raw, supervisor)
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    results["settings"]["noisy_spent_s"] = args.noisy_spent_s
    results["targets"] = report.evaluate(results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)

    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "latest.md").write_text(report.markdown(results))
    plot(out / "latest.json", out / "latest.png", installer)
    say(f"wrote {out / 'latest.md'}, {out / 'latest.json'}, {out / 'latest.png'} in {results['elapsed_s']} s")
    if out.resolve() == DEFAULT_OUT.resolve():
        # README.md shows results/latest.png: its summary table must come from the same run.
        written = report.publish(results)
        say(f"rewrote the generated results in {', '.join(str(path) for path in written)}")
    print(report.targets_table(results["targets"]))
    return 0


# --- one server --------------------------------------------------------------------------------


def write_payloads(directory: Path, workloads: list[model.Workload]) -> dict[tuple[str, str], Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for workload in workloads:
        for protocol, make in (("sagemaker", model.sagemaker_payload), ("v2", model.v2_payload)):
            path = directory / f"{workload.name}.{protocol}"
            path.write_bytes(make(workload))
            files[(workload.name, protocol)] = path
    return files


def request_shape(workload: model.Workload, protocol: str) -> tuple[str, str]:
    """(Content-Type, Accept) for a workload on a server speaking `protocol`."""
    if protocol == "v2":
        return "application/json", "application/json"
    return workload.content_type, "application/json"


@dataclass
class Running:
    stack: stacks.Stack
    launch: stacks.Launch
    server: Server
    port: int
    info: dict[str, Any]


def start_stack(
    stack: stacks.Stack,
    venv: Path | None,
    args: argparse.Namespace,
    model_file: Path,
    payloads: dict[tuple[str, str], Path],
    raw: Path,
    supervisor: Supervisor,
    batch_env: dict[str, str],
) -> Running:
    """Start one server (the ones started before it are idle), time its cold start, check its answers.

    All servers stay up through the load phases, so that these can alternate between them: a
    point of each server is measured next to the same point of every other, and other work on
    the machine weighs on all of them alike. (The baselines stop before the one-connection
    measurements, which compare this runtime with itself.)
    """
    say(f"== {stack.name}: {stack.label}")
    work_dir = raw / "servers" / stack.name
    ctx = stacks.StackContext(model_file, work_dir, free_port(stack.max_port), venv, batch_env)
    launch = stack.prepare(ctx)
    info: dict[str, Any] = {
        "name": stack.name,
        "label": stack.label,
        "family": stack.family,
        "batching": stack.batching,
        "custom_script": stack.custom_script,
        "protocol": launch.protocol,
        "workers": launch.workers,
        "command": launch.command,
        "env": launch.env,
        "notes": launch.notes,
        "versions": setup_env.venv_versions(venv, list(stack.version_packages)) if venv else {},
        "error": None,
    }
    env = {**stacks.clean_env(venv / "bin" if venv else None), **launch.env}
    server = Server(stack.name, launch.argv, env, launch.cwd, raw / "logs" / f"{stack.name}.log")
    base = f"http://{LOOPBACK}:{ctx.port}"
    try:
        supervisor.start(server)
        info["cold_start"] = cold_start(server, base, launch, payloads, args.workloads)
        say(
            f"   ready: /ping 200 after {info['cold_start']['ping_s']} s, first prediction after "
            f"{info['cold_start']['first_prediction_s']} s"
        )
        info["answers"] = check_answers(base, launch, payloads, args.workloads)
        info["memory_idle"] = summary_memory(tree_memory(server.pid))
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        say(f"   FAILED: {info['error']}")
        traceback.print_exc()
        info["exit_status"] = supervisor.stop(server)
    return Running(stack, launch, server, ctx.port, info)


def measure_all(
    live: list[Running], args: argparse.Namespace, payloads: dict[tuple[str, str], Path], wrk: str
) -> list[dict[str, Any]]:
    """wrk points: per workload a warm-up of every server, then per concurrency every server in turn."""
    points = []
    for workload in args.workloads:
        say(f"== {workload.title}")
        for r in live:
            if args.warmup and r.info["error"] is None:
                body = payloads[(workload.name, r.launch.protocol)]
                content_type, accept = request_shape(workload, r.launch.protocol)
                loadgen.run_wrk(wrk, r.port, r.launch.invoke_path, body, content_type, accept, 8, args.warmup)
        for connections in args.concurrency:
            for r in live:
                if r.info["error"] is not None:
                    continue
                body = payloads[(workload.name, r.launch.protocol)]
                content_type, accept = request_shape(workload, r.launch.protocol)
                try:
                    point = measure_point(
                        args, r.server, wrk, r.port, r.launch, body, content_type, accept, connections
                    )
                except Exception as exc:
                    r.info["error"] = f"{type(exc).__name__}: {exc}"
                    say(f"   {r.stack.name} FAILED: {r.info['error']}")
                    continue
                points.append(
                    {"server": r.stack.name, "workload": workload.name, "concurrency": connections, **point}
                )
                say(
                    f"   {r.stack.name:22s} c={connections:<3d} {point['requests_per_s']:>9.1f} req/s  "
                    f"p50 {point['p50_ms']:8.2f} ms  p99 {point['p99_ms']:8.2f} ms  "
                    f"errors {point['error_count']}  other CPU {point['other_cpu_share']:.0%}"
                )
    return points


def batching_rounds(
    live: list[Running], args: argparse.Namespace, payloads: dict[tuple[str, str], Path], wrk: str
) -> list[dict[str, Any]]:
    """Batching off against on at one connection, in alternating rounds (off, on, on, off, ...).

    At one connection p99 is a few milliseconds and moves by more than 10 % from one 10 s run to
    the next, so one point each cannot tell a 10 % difference: the medians of several rounds,
    measured side by side, can.
    """
    by_name = {r.stack.name: r for r in live if r.info["error"] is None}
    comparisons = []
    for off, on in (("byoc-default", "byoc-default-batching"), ("byoc-custom", "byoc-custom-batching")):
        if args.batching_rounds < 1 or off not in by_name or on not in by_name:
            continue
        for workload in args.workloads:
            p99: dict[str, list[float]] = {off: [], on: []}
            other: list[float] = []
            for round_ in range(args.batching_rounds):
                for name in (off, on) if round_ % 2 == 0 else (on, off):
                    r = by_name[name]
                    body = payloads[(workload.name, r.launch.protocol)]
                    content_type, accept = request_shape(workload, r.launch.protocol)
                    foreign = ForeignCpu(r.server.pid)
                    point = loadgen.run_wrk(
                        wrk, r.port, r.launch.invoke_path, body, content_type, accept, 1, args.duration
                    )
                    other.append(foreign.share())
                    p99[name].append(point["p99_ms"])
            median_off, median_on = statistics.median(p99[off]), statistics.median(p99[on])
            comparisons.append(
                {
                    "off": off,
                    "on": on,
                    "workload": workload.name,
                    "p99_off_ms": p99[off],
                    "p99_on_ms": p99[on],
                    "median_p99_off_ms": median_off,
                    "median_p99_on_ms": median_on,
                    "ratio": round(median_on / median_off, 3),
                    "max_other_cpu_share": round(max(other), 3),
                }
            )
            say(
                f"   batching c=1 {workload.name} {on}/{off}: median p99 {median_on:.3f} / "
                f"{median_off:.3f} ms = {median_on / median_off:.2f} ({args.batching_rounds} rounds)"
            )
    return comparisons


def overhead_all(
    live: list[Running], args: argparse.Namespace, payloads: dict[tuple[str, str], Path], rounds: int = 4
) -> list[dict[str, Any]]:
    """The runtime's own latency headers at concurrency 1, sampled in rounds alternating between servers."""
    ours = [r for r in live if r.stack.family == "byoc" and r.info["error"] is None]
    samples = []
    for workload in args.workloads:
        parts: dict[str, list[dict[str, Any]]] = {r.stack.name: [] for r in ours}
        for _ in range(rounds):
            for r in ours:
                content_type, accept = request_shape(workload, r.launch.protocol)
                body = payloads[(workload.name, r.launch.protocol)].read_bytes()
                parts[r.stack.name].append(
                    loadgen.collect_headers(
                        r.port,
                        r.launch.invoke_path,
                        body,
                        content_type,
                        accept,
                        max(args.samples // rounds, 1),
                        max_seconds=10,
                    )
                )
        for r in ours:
            sample = loadgen.summarize_headers(loadgen.merge_headers(parts[r.stack.name]))
            samples.append({"server": r.stack.name, "workload": workload.name, **sample})
            say(
                f"   overhead {r.stack.name} {workload.name}: p50 {sample['overhead_us'].get('p50')} us "
                f"(model p50 {sample['model_us'].get('p50')} us, {sample['samples']} samples)"
            )
    return samples


def measure_point(
    args: argparse.Namespace,
    server: Server,
    wrk: str,
    port: int,
    launch: stacks.Launch,
    body: Path,
    content_type: str,
    accept: str,
    connections: int,
) -> dict[str, Any]:
    """One wrk point. Measured again (at most --noisy-retries times) when other processes used more
    than --noisy-limit of the machine's CPUs meanwhile; the quietest attempt is kept."""
    attempts = []
    for attempt in range(args.noisy_retries + 1):
        foreign = ForeignCpu(server.pid)
        point = loadgen.run_wrk(
            wrk, port, launch.invoke_path, body, content_type, accept, connections, args.duration
        )
        point["other_cpu_share"] = round(foreign.share(), 3)
        point["attempts"] = attempt + 1
        if not server.running():
            raise RuntimeError(f"{server.name} exited during the run:\n{server.log_tail()}")
        attempts.append(point)
        if point["other_cpu_share"] <= args.noisy_limit or args.noisy_spent_s >= args.noisy_budget:
            break
        args.noisy_spent_s += args.duration
        say(f"   other processes used {point['other_cpu_share']:.0%} of the CPUs: measuring again")
    return min(attempts, key=lambda p: p["other_cpu_share"])


def cold_start(
    server: Server,
    base: str,
    launch: stacks.Launch,
    payloads: dict[tuple[str, str], Path],
    workloads: list[model.Workload],
    timeout: float = 240.0,
) -> dict[str, float]:
    """Seconds from process start to the first 200 on the health route, and to the first prediction."""
    workload = workloads[0]
    body = payloads[(workload.name, launch.protocol)].read_bytes()
    content_type, accept = request_shape(workload, launch.protocol)
    ping_s = None
    deadline = server.started_at + timeout
    while time.monotonic() < deadline:
        if not server.running():
            raise RuntimeError(
                f"the server exited at start (status {server.process.returncode}):\n{server.log_tail()}"
            )
        if ping_s is None:
            status, _, _ = http("GET", base + launch.ping_path, timeout=2)
            if status == 200:
                ping_s = time.monotonic() - server.started_at
        if ping_s is not None:
            status, _, _ = http(
                "POST", base + launch.invoke_path, body, {"Content-Type": content_type, "Accept": accept}, 10
            )
            if status == 200:
                return {
                    "ping_s": round(ping_s, 3),
                    "first_prediction_s": round(time.monotonic() - server.started_at, 3),
                }
        time.sleep(0.01)
    raise RuntimeError(f"not ready after {timeout:g} s:\n{server.log_tail()}")


def check_answers(
    base: str, launch: stacks.Launch, payloads: dict[tuple[str, str], Path], workloads: list[model.Workload]
) -> dict[str, Any]:
    """Each workload once: the answer must hold a prediction and probabilities for every row.

    A 503 after the health route said 200 (a worker still loading its model behind a ready
    sibling) is retried for up to 60 s, and counted: clients would have seen those errors.
    """
    answers: dict[str, Any] = {}
    not_ready = 0
    for workload in workloads:
        content_type, accept = request_shape(workload, launch.protocol)
        body = payloads[(workload.name, launch.protocol)].read_bytes()
        deadline = time.monotonic() + 60
        while True:
            status, answer, _ = http(
                "POST", base + launch.invoke_path, body, {"Content-Type": content_type, "Accept": accept}, 10
            )
            if status != 503 or time.monotonic() > deadline:
                break
            not_ready += 1
            time.sleep(0.05)
        if status != 200:
            raise RuntimeError(f"{workload.name}: status {status}: {answer[:300]!r}")
        document = json.loads(answer)
        if launch.protocol == "v2":
            outputs = {o["name"]: o for o in document["outputs"]}
            predictions = outputs["predict"]["shape"][0]
            probabilities = outputs["predict_proba"]["shape"]
            ok = predictions == workload.rows and probabilities == [workload.rows, 2]
        else:
            ok = (
                len(document["predictions"]) == workload.rows
                and all(len(p) == 2 for p in document["probabilities"])
                and len(document["probabilities"]) == workload.rows
            )
        if not ok:
            raise RuntimeError(
                f"{workload.name}: the answer lacks predictions or probabilities: {answer[:300]!r}"
            )
        answers[workload.name] = answer[:160].decode(errors="replace") + ("..." if len(answer) > 160 else "")
    if not_ready:
        say(f"   {not_ready} answer(s) 503 after the health route said ready (retried)")
    return {"predictions_and_probabilities": True, "not_ready_after_ping": not_ready, "samples": answers}


def summary_memory(memory: dict[str, Any]) -> dict[str, Any]:
    return {
        "processes": memory["processes"],
        "rss_mib": memory["rss_mib"],
        "pss_mib": memory["pss_mib"],
        "uss_mib": memory["uss_mib"],
        "per_process": [
            {k: p[k] for k in ("pid", "role", "rss_kib", "pss_kib", "uss_kib", "command")}
            for p in memory["per_process"]
        ],
    }


# --- memory per worker -------------------------------------------------------------------------


def memory_scaling(args: argparse.Namespace, raw: Path, supervisor: Supervisor) -> dict[str, Any]:
    """Our server with a big model at 1 and N workers: what each extra worker costs (PSS, USS, RSS).

    The same with the small benchmark model gives what a worker costs without a model to share
    (interpreter, numpy, scikit-learn), so the model's own share per worker can be told apart.
    """
    big = model.write_model(raw / "big-model", padding_mb=args.memory_model_mb)
    small = model.write_model(raw / "model")
    model_mib = big.stat().st_size / 2**20
    scaling: dict[str, Any] = {"server": "byoc-default", "model_file_mib": round(model_mib, 1)}
    for label, model_file in (("runs", big), ("small_model_runs", small)):
        runs = [memory_run(model_file, workers, raw, supervisor) for workers in args.memory_workers]
        scaling[label] = runs
        scaling["extra_worker_mib" if label == "runs" else "small_model_extra_worker_mib"] = _per_worker(runs)
    per_worker, base = scaling["extra_worker_mib"], scaling["small_model_extra_worker_mib"]
    scaling["extra_worker_pss_over_model"] = round(per_worker["pss_mib"] / model_mib, 3)
    scaling["model_share_per_worker_pss_mib"] = round(per_worker["pss_mib"] - base["pss_mib"], 1)
    return scaling


def _per_worker(runs: list[dict[str, Any]]) -> dict[str, float]:
    low, high = runs[0], runs[-1]
    extra = max(high["workers"] - low["workers"], 1)
    return {
        key: round((high["total"][key] - low["total"][key]) / extra, 1)
        for key in ("pss_mib", "uss_mib", "rss_mib")
    }


def memory_run(model_file: Path, workers: int, raw: Path, supervisor: Supervisor) -> dict[str, Any]:
    name = f"memory-{model_file.parent.name}-{workers}"
    ctx = stacks.StackContext(model_file, raw / "servers" / name, free_port(), None, {}, workers=workers)
    launch = stacks.BY_NAME["byoc-default"].prepare(ctx)
    server = Server(
        name, launch.argv, {**stacks.clean_env(), **launch.env}, launch.cwd, raw / "logs" / f"{name}.log"
    )
    payloads = write_payloads(raw / "payloads", model.WORKLOADS[:1])
    try:
        supervisor.start(server)
        cold = cold_start(server, f"http://{LOOPBACK}:{ctx.port}", launch, payloads, model.WORKLOADS[:1])
        memory = settled_memory(server, workers)
    finally:
        supervisor.stop(server)
    master = next(p for p in memory["per_process"] if p["role"] == "master")
    say(
        f"   {model_file.parent.name}, {workers} worker(s): PSS {memory['pss_mib']} MiB, "
        f"USS {memory['uss_mib']} MiB, RSS {memory['rss_mib']} MiB"
    )
    return {
        "workers": workers,
        "cold_start": cold,
        "total": {k: memory[k] for k in ("processes", "rss_mib", "pss_mib", "uss_mib")},
        "master_mib": {
            k.replace("_kib", "_mib"): round(master[k] / 1024, 1) for k in ("rss_kib", "pss_kib", "uss_kib")
        },
        "workers_mib": [
            {k.replace("_kib", "_mib"): round(p[k] / 1024, 1) for k in ("rss_kib", "pss_kib", "uss_kib")}
            for p in memory["per_process"]
            if p["role"] != "master"
        ],
    }


def settled_memory(server: Server, workers: int, timeout: float = 120.0) -> dict[str, Any]:
    """The tree's memory once every worker is up and its total PSS has stopped moving for 2 s."""
    deadline = time.monotonic() + timeout
    history: list[float] = []
    memory = tree_memory(server.pid)
    while time.monotonic() < deadline:
        memory = tree_memory(server.pid)
        history.append(memory["pss_mib"])
        recent = history[-5:]
        if (
            memory["processes"] >= workers + 1
            and len(recent) == 5
            and max(recent) - min(recent) <= 0.01 * max(recent)
        ):
            return memory
        time.sleep(0.5)
    return memory


# --- the machine and the plot ------------------------------------------------------------------


def machine_facts(wrk: str) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    os_name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[
        0
    ]
    java = shutil.which("java")
    java_version = ""
    if java:
        text = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
        java_version = text.splitlines()[0] if text else ""
    return {
        "runtime": runtime_state(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": re.sub(r"\s+Copyright.*", "", wrk_version).strip(),
        "java": java_version,
        "note": "server and wrk share the same CPUs (wrk -t1)",
        "load_average_at_start": os.getloadavg()[0],  # 1-minute: other work on the machine shows here
    }


def runtime_state() -> str:
    """The commit the measured runtime was at, and whether container/ or handlers/ had local changes."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=HERE.parent, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", "container", "handlers").splitlines()
    return f"{commit}" + (f" + uncommitted changes in {len(changed)} runtime file(s)" if changed else "")


def plot(results_json: Path, png: Path, installer: setup_env.Installer) -> None:
    script = HERE / "plot.py"
    try:
        import matplotlib  # noqa: F401

        python = sys.executable
    except ImportError:
        python = str(installer.ensure_venv("plot") / "bin" / "python")
    subprocess.run([python, str(script), str(results_json), str(png)], check=True)


if __name__ == "__main__":
    sys.exit(main())
