"""`python -m bench.xgb_suite`: the XGBoost handler against AWS's stack for the same XGBoost model.

    .venv/bin/python -m bench.xgb_suite [--quick] [--servers a,b] [--out DIR] [--duration S] ...

One binary:logistic Booster (100 rounds of depth-4 trees on the main benchmark's 20-feature data), saved
once as `xgboost-model` by this project's xgboost and served by:

  byoc-xgboost            this runtime, BYOC_HANDLER=xgboost (batching on, the default)
  byoc-xgboost-unbatched  the same with BYOC_BATCHING=off
  mms-xgboost             AWS's sagemaker-inference toolkit on multi-model-server, with
                          bench/servers/xgboost_inference.py as code/inference.py (the same xgboost)

with 1-row and 100-row CSV requests answered as CSV, at each concurrency (1, 8, 64), the servers
measured in turn at every point. Every server must give the same scores for the same rows before
anything is measured. Writes OUT/xgboost.json and OUT/xgboost.md (default bench/results); logs and
payloads go to OUT/raw/xgboost/ (git-ignored with the rest of raw output).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import model, run, setup_env, stacks
from bench.procs import Server, Supervisor, http, tree_memory
from container.serving.server_process import LOOPBACK, free_port

HERE = Path(__file__).resolve().parent
INFERENCE_SCRIPT = HERE / "servers" / "xgboost_inference.py"
WORKLOADS = [w for w in model.WORKLOADS if w.name in ("csv1", "csv100")]
ACCEPT = "text/csv"
ROUNDS = 100
PARAMS = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "seed": model.SEED}
TARGET_FACTOR = 5.0
PRIMARY, BASELINE = "byoc-xgboost", "mms-xgboost"


def write_model(directory: Path) -> Path:
    """The benchmark Booster, saved as the built-in algorithm names it."""
    import xgboost as xgb
    from sklearn.datasets import make_classification

    features, labels = make_classification(
        n_samples=2000, n_features=model.N_FEATURES, n_informative=10, random_state=model.SEED
    )
    booster = xgb.train(PARAMS, xgb.DMatrix(features, label=labels), num_boost_round=ROUNDS)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "xgboost-model"
    booster.save_model(str(path))
    return path


# --- the servers ---------------------------------------------------------------------------------


def _byoc(batching: bool):
    def prepare(ctx: stacks.StackContext) -> stacks.Launch:
        model_dir = ctx.work_dir / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ctx.model_file, model_dir / "xgboost-model")
        env = {
            "BYOC_MODEL_DIR": str(model_dir),
            "BYOC_BIND_HOST": LOOPBACK,
            "BYOC_HANDLER": "xgboost",
            "SAGEMAKER_BIND_TO_PORT": str(ctx.port),
            "BYOC_BATCHING": "on" if batching else "off",
        }
        return stacks.Launch(
            argv=[sys.executable, "-m", "container.serving.server", "serve"],
            env=env,
            cwd=stacks.ROOT,
            ping_path="/ping",
            invoke_path="/invocations",
            protocol="sagemaker",
            workers=f"{stacks.CPUS} (SAGEMAKER_MODEL_SERVER_WORKERS unset: one per CPU)",
            command=f"{stacks._env_text(env)} .venv/bin/serve",
            notes=["xgboost-model, handlers/xgboost"],
        )

    return prepare


def _mms(ctx: stacks.StackContext) -> stacks.Launch:
    assert ctx.venv is not None
    base = ctx.work_dir / "ml"
    model_dir = base / "model"
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ctx.model_file, model_dir / "xgboost-model")
    shutil.copy2(INFERENCE_SCRIPT, model_dir / "code" / "inference.py")
    tmp = ctx.work_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    config = ctx.work_dir / "sagemaker-mms.properties"
    env = {
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_BIND_TO_PORT": str(ctx.port),
        "BENCH_MMS_CONFIG": str(config),
        "TMPDIR": str(tmp),
    }
    python = ctx.venv / "bin" / "python"
    return stacks.Launch(
        argv=[str(python), str(stacks.SERVERS_DIR / "mms_serve.py")],
        env=env,
        cwd=ctx.work_dir,
        ping_path="/ping",
        invoke_path="/invocations",
        protocol="sagemaker",
        workers=f"{stacks.CPUS} (MMS default_workers_per_model: one per CPU)",
        command=f"{stacks._env_text(env)} {python} bench/servers/mms_serve.py",
        notes=[
            "handler: sagemaker_inference.default_handler_service, code/inference.py = "
            "bench/servers/xgboost_inference.py",
            "pandas installed, as in AWS's XGBoost images: xgboost checks every input for a DataFrame",
        ],
    )


STACKS = [
    stacks.Stack(PRIMARY, "byoc XGBoost handler, batching on", "byoc", None, _byoc(True), True),
    stacks.Stack(
        "byoc-xgboost-unbatched", "byoc XGBoost handler, batching off", "byoc", None, _byoc(False), False
    ),
    stacks.Stack(
        BASELINE,
        "sagemaker-inference on multi-model-server, xgboost inference.py",
        "baseline",
        "mms-xgboost",
        _mms,
        custom_script=True,
        max_port=32767,
        version_packages=("sagemaker-inference", "multi-model-server", "xgboost-cpu", "pandas"),
    ),
]
BY_NAME = {stack.name: stack for stack in STACKS}


# --- the run -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.xgb_suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s points, no warm-up")
    parser.add_argument("--servers", default=",".join(BY_NAME), help="comma-separated; default: all")
    parser.add_argument("--concurrency", default="1,8,64", help="wrk connections per point")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk point")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (8 conns) per workload")
    parser.add_argument("--noisy-limit", type=float, default=0.10, help="share of CPUs others may use")
    parser.add_argument("--noisy-retries", type=int, default=2, help="measure a noisier point again")
    parser.add_argument("--noisy-budget", type=int, default=300, help="seconds re-measuring may spend")
    parser.add_argument("--out", type=Path, default=run.DEFAULT_OUT, help="where xgboost.{json,md} go")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.noisy_retries = 1, 0, 0
    args.noisy_spent_s = 0
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in args.servers if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    return args


@dataclass
class Live:
    stack: stacks.Stack
    launch: stacks.Launch
    server: Server
    port: int
    info: dict[str, Any]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raw = args.out / "raw" / "xgboost"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    started = time.monotonic()
    installer = setup_env.Installer(raw / "install.log")
    wrk = installer.ensure_wrk()
    chosen = [BY_NAME[name] for name in args.servers]
    if any(stack.venv for stack in chosen):
        installer.ensure_java()
    venvs = {stack.name: stacks.venv_for(stack, installer) for stack in chosen}
    model_file = write_model(raw / "model")
    payloads = {w.name: raw / "payloads" / f"{w.name}.csv" for w in WORKLOADS}
    for workload in WORKLOADS:
        payloads[workload.name].parent.mkdir(parents=True, exist_ok=True)
        payloads[workload.name].write_bytes(model.sagemaker_payload(workload))
    results: dict[str, Any] = {
        "schema": 1,
        "suite": "xgboost",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": run.machine_facts(wrk),
        "settings": {
            "quick": args.quick,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "workloads": [{"name": w.name, "title": w.title, "rows": w.rows} for w in WORKLOADS],
            "accept": ACCEPT,
            "model": {
                "booster": f"binary:logistic, {ROUNDS} rounds, max_depth {PARAMS['max_depth']}",
                "features": model.N_FEATURES,
                "file_bytes": model_file.stat().st_size,
            },
            "noisy_limit": args.noisy_limit,
        },
        "servers": [],
        "points": [],
    }
    with Supervisor() as supervisor:
        live = [start(stack, venvs[stack.name], model_file, payloads, raw, supervisor) for stack in chosen]
        results["servers"] = [r.info for r in live]
        ok = [r for r in live if r.info["error"] is None]
        same_scores(ok)
        results["points"] = measure(ok, args, payloads, wrk)
        for r in live:
            if r.server in supervisor.servers:
                r.info["memory_after_load"] = run.summary_memory(tree_memory(r.server.pid))
                r.info["exit_status"] = supervisor.stop(r.server)
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    results["ratios"] = ratios(results)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "xgboost.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "xgboost.md").write_text(markdown(results))
    run.say(f"wrote {args.out / 'xgboost.md'} and {args.out / 'xgboost.json'} in {results['elapsed_s']} s")
    print(ratio_table(results))
    return 0


def start(
    stack: stacks.Stack,
    venv: Path | None,
    model_file: Path,
    payloads: dict[str, Path],
    raw: Path,
    supervisor: Supervisor,
) -> Live:
    run.say(f"== {stack.name}: {stack.label}")
    ctx = stacks.StackContext(model_file, raw / "servers" / stack.name, free_port(stack.max_port), venv, {})
    launch = stack.prepare(ctx)
    info: dict[str, Any] = {
        "name": stack.name,
        "label": stack.label,
        "family": stack.family,
        "batching": stack.batching,
        "workers": launch.workers,
        "command": launch.command,
        "env": launch.env,
        "notes": launch.notes,
        "versions": setup_env.venv_versions(venv, list(stack.version_packages)) if venv else {},
        "error": None,
    }
    env = {**stacks.clean_env(venv / "bin" if venv else None), **launch.env}
    server = Server(stack.name, launch.argv, env, launch.cwd, raw / "logs" / f"{stack.name}.log")
    try:
        supervisor.start(server)
        info["cold_start"] = ready(server, ctx.port, launch, payloads)
        info["answers"] = {w.name: answer(ctx.port, launch, payloads[w.name]) for w in WORKLOADS}
        run.say(f"   ready after {info['cold_start']['first_prediction_s']} s")
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        run.say(f"   FAILED: {info['error']}")
        info["exit_status"] = supervisor.stop(server)
    return Live(stack, launch, server, ctx.port, info)


def ready(server: Server, port: int, launch: stacks.Launch, payloads: dict[str, Path], timeout=240.0):
    """Seconds from start to the first CSV prediction (MMS answers /ping before its model is loaded)."""
    body = payloads[WORKLOADS[0].name].read_bytes()
    while time.monotonic() < server.started_at + timeout:
        if not server.running():
            raise RuntimeError(f"the server exited at start:\n{server.log_tail()}")
        status, _, _ = post(port, launch, body, timeout=5)
        if status == 200:
            return {"first_prediction_s": round(time.monotonic() - server.started_at, 3)}
        time.sleep(0.05)
    raise RuntimeError(f"not ready after {timeout:g} s:\n{server.log_tail()}")


def post(port: int, launch: stacks.Launch, body: bytes, timeout: float = 10.0):
    headers = {"Content-Type": "text/csv", "Accept": ACCEPT}
    return http("POST", f"http://{LOOPBACK}:{port}{launch.invoke_path}", body, headers, timeout)


def answer(port: int, launch: stacks.Launch, payload: Path) -> list[float]:
    deadline = time.monotonic() + 60
    while True:
        status, body, _ = post(port, launch, payload.read_bytes())
        if status != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if status != 200:
        raise RuntimeError(f"status {status}: {body[:300]!r}")
    return [float(line) for line in body.decode().splitlines() if line.strip()]


def same_scores(live: list[Live]) -> None:
    """Every server must give every workload's rows the same scores: the same model, served alike."""
    for workload in WORKLOADS:
        answers = {r.stack.name: r.info["answers"][workload.name] for r in live}
        for name, scores in answers.items():
            if len(scores) != workload.rows:
                raise RuntimeError(f"{name}: {len(scores)} scores for {workload.rows} rows")
        reference = next(iter(answers.values()), None)
        for name, scores in answers.items():
            if not np.allclose(scores, reference, rtol=1e-6, atol=1e-7):
                raise RuntimeError(f"{name} scores {workload.name} differently from the other servers")


def measure(live: list[Live], args: argparse.Namespace, payloads: dict[str, Path], wrk: str) -> list[dict]:
    points = []
    for workload in WORKLOADS:
        run.say(f"== {workload.title}")
        for r in live:
            if args.warmup:
                run.loadgen.run_wrk(
                    wrk,
                    r.port,
                    r.launch.invoke_path,
                    payloads[workload.name],
                    "text/csv",
                    ACCEPT,
                    8,
                    args.warmup,
                )
        for connections in args.concurrency:
            for r in live:
                point = run.measure_point(
                    args,
                    r.server,
                    wrk,
                    r.port,
                    r.launch,
                    payloads[workload.name],
                    "text/csv",
                    ACCEPT,
                    connections,
                )
                points.append(
                    {"server": r.stack.name, "workload": workload.name, "concurrency": connections, **point}
                )
                run.say(
                    f"   {r.stack.name:24s} c={connections:<3d} {point['requests_per_s']:>9.1f} req/s  "
                    f"p50 {point['p50_ms']:8.2f} ms  p99 {point['p99_ms']:8.2f} ms  "
                    f"errors {point['error_count']}  other CPU {point['other_cpu_share']:.0%}"
                )
    return points


# --- the report ----------------------------------------------------------------------------------


def _point(results: dict[str, Any], server: str, workload: str, concurrency: int) -> dict[str, Any] | None:
    for point in results["points"]:
        if (point["server"], point["workload"], point["concurrency"]) == (server, workload, concurrency):
            return point
    return None


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Throughput of each byoc server over the MMS baseline, per workload and concurrency."""
    rows = []
    high = max(results["settings"]["concurrency"])
    for ours in (PRIMARY, "byoc-xgboost-unbatched"):
        for workload in results["settings"]["workloads"]:
            for concurrency in results["settings"]["concurrency"]:
                a = _point(results, ours, workload["name"], concurrency)
                b = _point(results, BASELINE, workload["name"], concurrency)
                if a is None or b is None or not b["requests_per_s"]:
                    continue
                ratio = a["requests_per_s"] / b["requests_per_s"]
                clean = a["error_count"] == 0 and b["error_count"] == 0
                rows.append(
                    {
                        "server": ours,
                        "workload": workload["name"],
                        "concurrency": concurrency,
                        "ratio": round(ratio, 2),
                        "ours_rps": a["requests_per_s"],
                        "mms_rps": b["requests_per_s"],
                        "p99_ms": [a["p99_ms"], b["p99_ms"]],
                        "target": f">= {TARGET_FACTOR:g}x" if concurrency == high and ours == PRIMARY else "",
                        "pass": (ratio >= TARGET_FACTOR and clean)
                        if concurrency == high and ours == PRIMARY
                        else None,
                    }
                )
    return rows


def ratio_table(results: dict[str, Any]) -> str:
    lines = [
        "| server | workload | connections | req/s (ours / MMS) | ratio | p99 ms (ours / MMS) | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in results["ratios"]:
        verdict = {True: "pass", False: "**FAIL**", None: ""}[row["pass"]]
        lines.append(
            f"| {row['server']} | {row['workload']} | {row['concurrency']} | "
            f"{row['ours_rps']:,.0f} / {row['mms_rps']:,.0f} | {row['ratio']:.2f}x | "
            f"{row['p99_ms'][0]:.2f} / {row['p99_ms'][1]:.2f} | {row['target']} {verdict} |"
        )
    return "\n".join(lines) + "\n"


def points_table(results: dict[str, Any]) -> str:
    concurrency = results["settings"]["concurrency"]
    header = " | ".join(f"c={c} req/s | c={c} p50 / p99 ms" for c in concurrency)
    lines = [f"| server | workload | {header} |", "|---|---|" + "---:|---:|" * len(concurrency)]
    for server in results["servers"]:
        for workload in results["settings"]["workloads"]:
            cells = []
            for c in concurrency:
                p = _point(results, server["name"], workload["name"], c)
                if p is None:
                    cells += ["-", "-"]
                    continue
                noisy = (
                    f" (noisy: {p['other_cpu_share']:.0%})"
                    if p["other_cpu_share"] > results["settings"]["noisy_limit"]
                    else ""
                )
                cells += [f"{p['requests_per_s']:,.0f}{noisy}", f"{p['p50_ms']:.2f} / {p['p99_ms']:.2f}"]
            lines.append(f"| {server['label']} | {workload['title']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    servers = "\n".join(
        f"- **{server['label']}** (`{server['name']}`): workers {server['workers']}; "
        f"`{server['command']}`"
        + ("".join(f"\n  - {note}" for note in server["notes"]))
        + (f"\n  - versions: {server['versions']}" if server["versions"] else "")
        + (f"\n  - FAILED: {server['error']}" if server["error"] else "")
        for server in results["servers"]
    )
    return "\n".join(
        [
            "# XGBoost benchmark: the byoc XGBoost handler against sagemaker-inference on MMS\n",
            f"Run {results['generated_at']} on: {run.report.machine_line(results)}.\n",
            f"Model: one Booster ({s['model']['booster']}, {s['model']['features']} features, "
            f"`xgboost-model` of {s['model']['file_bytes']} bytes) served by every server; requests are "
            f"CSV rows answered as CSV (Accept {s['accept']}), and every server gave the same scores "
            f"before the load. {s['duration_s']} s per point after {s['warmup_s']} s of warm-up per "
            "workload; the servers take turns at each point"
            + (" (quick smoke run: not for comparison)" if s["quick"] else "")
            + ".\n",
            "## Throughput ratios\n",
            ratio_table(results),
            "## Throughput and latency\n",
            points_table(results),
            "## How each server was started\n",
            servers + "\n",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
