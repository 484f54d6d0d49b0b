"""Multi-model endpoints: invocations/s across many small models with a cache that holds a few.

    .venv/bin/python -m bench.mme [--models 50] [--cache 10] [--duration 30] [--concurrency 8]
                                  [--servers byoc,mms] [--out bench/results]

Both servers speak SageMaker's multi-model container contract (POST /models, DELETE /models/{name},
POST /models/{name}/invoke) and get the same 50 model directories (the benchmark's LogisticRegression
with bench/servers/inference.py as code/inference.py), with one worker per model, each its
project's multi-model default. This harness plays SageMaker's part: at most `--cache` models are
loaded at once; an invocation of a model that is not loaded waits for its load, after the least
recently used idle model is unloaded. The same seeded sequence of target models (Zipf-like
popularity, as traffic across customers' models is) goes to both servers, from `--concurrency`
clients at once, for `--duration` seconds each; every answer is checked.

Memory: the server's process tree (PSS) with no model and with `--cache` models loaded; the
difference per model, and each worker's own pages (USS). Writes OUT/mme.json and OUT/mme.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import model as bench_model
from bench import setup_env
from bench.procs import Server, Supervisor, tree_memory
from bench.stacks import CUSTOM_SCRIPT, SERVERS_DIR, clean_env
from container.serving.server_process import LOOPBACK, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ZIPF_EXPONENT = 1.0
READY_SECONDS = 120


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mme", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--cache", type=int, default=10, help="models loaded at most at once")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per server")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at once")
    parser.add_argument("--servers", default="byoc,mms")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--memory-model-mb", type=int, default=64, help="padding of the models of the sharing measurement"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the sharing measurement")
    parser.add_argument("--quick", action="store_true", help="10 models, cache 3, 5 s: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.cache, args.duration = 10, 3, 5.0
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    return args


def say(message: str) -> None:
    print(f"[bench mme {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the models and the traffic --------------------------------------------------------------------


def write_models(root: Path, count: int) -> list[str]:
    """`count` model directories (the same estimator, its own copy each) with code/inference.py."""
    source = root / "source"
    bench_model.write_model(source)
    names = []
    for index in range(count):
        name = f"model-{index:03d}"
        directory = root / name
        (directory / "code").mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "model.joblib", directory / "model.joblib")
        shutil.copy2(CUSTOM_SCRIPT, directory / "code" / "inference.py")
        names.append(name)
    return names


def traffic(names: list[str], length: int, seed: int = 0) -> list[str]:
    """A seeded sequence of target models, the i-th most popular with weight 1 / i."""
    weights = [1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(names))]
    return random.Random(seed).choices(names, weights=weights, k=length)


# --- SageMaker's part: the cache of loaded models ------------------------------------------------


@dataclass
class Tally:
    invocations: int = 0
    hits: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies_ms: list[float] = field(default_factory=list)
    load_ms: list[float] = field(default_factory=list)
    unload_ms: list[float] = field(default_factory=list)
    refusals_507: int = 0


class ModelCache:
    """At most `capacity` models loaded; the least recently used idle one makes room."""

    def __init__(self, client: httpx.AsyncClient, models_root: Path, capacity: int, tally: Tally) -> None:
        self.client = client
        self.models_root = models_root
        self.capacity = capacity
        self.tally = tally
        self.loaded: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.busy: collections.Counter[str] = collections.Counter()
        self.locks: dict[str, asyncio.Lock] = {}
        self.room = asyncio.Lock()
        self.loading = 0

    async def invoke(self, name: str, body: bytes) -> None:
        started = time.perf_counter()
        self.busy[name] += 1
        try:
            hit = name in self.loaded
            if not hit:
                await self._load(name)
            else:
                self.loaded.move_to_end(name)
            answer = await self.client.post(
                f"/models/{name}/invoke", content=body, headers={"Content-Type": "text/csv"}
            )
        finally:
            self.busy[name] -= 1
        self.tally.invocations += 1
        self.tally.hits += hit
        if answer.status_code != 200 or "predictions" not in answer.text:
            self.tally.errors[f"{answer.status_code}: {answer.text[:120]}"] += 1
            return
        self.tally.latencies_ms.append((time.perf_counter() - started) * 1000)

    async def _load(self, name: str) -> None:
        lock = self.locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name in self.loaded:
                return
            async with self.room:  # room is made one load at a time; the loads themselves overlap
                while len(self.loaded) + self.loading >= self.capacity:
                    victim = next((n for n in self.loaded if self.busy[n] == 0), None)
                    if victim is None:
                        await asyncio.sleep(0.01)
                        continue
                    del self.loaded[victim]
                    began = time.perf_counter()
                    await self.client.delete(f"/models/{victim}")
                    self.tally.unload_ms.append((time.perf_counter() - began) * 1000)
                self.loading += 1
            try:
                began = time.perf_counter()
                answer = await self.client.post(
                    "/models", json={"model_name": name, "url": str(self.models_root / name)}
                )
            finally:
                self.loading -= 1
            if answer.status_code == 507:
                self.tally.refusals_507 += 1
            if answer.status_code not in (200, 409):
                raise RuntimeError(f"loading {name}: {answer.status_code} {answer.text[:300]}")
            self.tally.load_ms.append((time.perf_counter() - began) * 1000)
            self.loaded[name] = None


async def drive(url: str, models_root: Path, sequence: list[str], args: argparse.Namespace) -> dict[str, Any]:
    tally = Tally()
    body = bench_model.sagemaker_payload(bench_model.WORKLOADS[0])
    limits = httpx.Limits(
        max_connections=args.concurrency * 2, max_keepalive_connections=args.concurrency * 2
    )
    async with httpx.AsyncClient(base_url=url, timeout=300, trust_env=False, limits=limits) as client:
        cache = ModelCache(client, models_root, args.cache, tally)
        # Warm: the cache filled with the first models the sequence asks for, outside the count, so
        # that the measured part is the steady state rather than the first compulsory loads.
        warm: list[str] = []
        for name in sequence:
            if name not in warm:
                warm.append(name)
            if len(warm) == args.cache:
                break
        for name in warm:
            await cache.invoke(name, body)
        cache.tally = tally = Tally()
        position = 0
        deadline = time.monotonic() + args.duration

        async def one_client() -> None:
            nonlocal position
            while time.monotonic() < deadline:
                name = sequence[position % len(sequence)]
                position += 1
                await cache.invoke(name, body)

        started = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(args.concurrency)))
        elapsed = time.monotonic() - started
        loaded = list(cache.loaded)
    latencies = sorted(tally.latencies_ms) or [0.0]
    return {
        "invocations": tally.invocations,
        "seconds": round(elapsed, 2),
        "invocations_per_s": round(tally.invocations / elapsed, 1),
        "hit_ratio": round(tally.hits / max(tally.invocations, 1), 3),
        "loads": len(tally.load_ms),
        "unloads": len(tally.unload_ms),
        "load_ms_mean": round(statistics.fmean(tally.load_ms), 1) if tally.load_ms else None,
        "unload_ms_mean": round(statistics.fmean(tally.unload_ms), 1) if tally.unload_ms else None,
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        "errors": dict(tally.errors),
        "refusals_507": tally.refusals_507,
        "loaded_at_end": loaded,
    }


# --- the servers ------------------------------------------------------------------------------------


def byoc_server(work: Path, workers: int | None = None) -> tuple[Server, str]:
    port = free_port()
    env = {
        **clean_env(),
        **({"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)} if workers else {}),
        "SAGEMAKER_MULTI_MODEL": "true",
        "BYOC_BIND_HOST": LOOPBACK,
        "SAGEMAKER_BIND_TO_PORT": str(port),
    }
    argv = [sys.executable, "-m", "container.serving.server", "serve"]
    return Server("byoc-mme", argv, env, ROOT, work / "byoc-mme.log"), f"http://{LOOPBACK}:{port}"


def mms_server(work: Path, venv: Path, workers: int | None = None) -> tuple[Server, str]:
    port = free_port(below=32767)
    tmp = work / "mms-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        **clean_env(venv / "bin"),
        **({"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)} if workers else {}),
        "SAGEMAKER_MULTI_MODEL": "true",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "BENCH_MMS_CONFIG": str(work / "mme-mms.properties"),
        "BENCH_MMS_HANDLER": "mms_mme_handler:handle",
        "PYTHONPATH": str(SERVERS_DIR),  # where MMS's workers import the handler service from
        "TMPDIR": str(tmp),
    }
    argv = [str(venv / "bin" / "python"), str(SERVERS_DIR / "mms_serve.py")]
    return Server("mms-mme", argv, env, work, work / "mms-mme.log"), f"http://{LOOPBACK}:{port}"


def wait_ready(server: Server, url: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if not server.running():
            raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
        try:
            if httpx.get(f"{url}/ping", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer /ping in {READY_SECONDS} s:\n{server.log_tail()}")


def memory_mib(pid: int) -> dict[str, Any]:
    memory = tree_memory(pid)
    return {key: memory[key] for key in ("processes", "rss_mib", "pss_mib", "uss_mib")} | {
        "per_process": memory["per_process"]
    }


def measure(name: str, server: Server, url: str, models_root: Path, names: list[str], args) -> dict[str, Any]:
    wait_ready(server, url)
    time.sleep(1.0)
    idle = memory_mib(server.pid)
    sequence = traffic(names, 200_000)
    say(f"{name}: {args.concurrency} clients, {args.duration:g} s, {len(names)} models, cache {args.cache}")
    result = asyncio.run(drive(url, models_root, sequence, args))
    time.sleep(2.0)  # the last loads' workers settle
    full = memory_mib(server.pid)
    loaded = len(result["loaded_at_end"])
    result["memory"] = {
        "idle_pss_mib": idle["pss_mib"],
        "idle_processes": idle["processes"],
        "loaded_models": loaded,
        "loaded_pss_mib": full["pss_mib"],
        "loaded_processes": full["processes"],
        "pss_per_model_mib": round((full["pss_mib"] - idle["pss_mib"]) / max(loaded, 1), 1),
        "processes_per_model": round((full["processes"] - idle["processes"]) / max(loaded, 1), 2),
    }
    if name == "byoc":
        described = [
            httpx.get(f"{url}/models/{n}", trust_env=False, timeout=10).json()
            for n in result["loaded_at_end"]
        ]
        workers = [
            p["ussBytes"] for d in described for p in d["memory"]["processes"] if p["role"] == "worker"
        ]
        hosts = [p["ussBytes"] for d in described for p in d["memory"]["processes"] if p["role"] == "model"]
        result["memory"]["model_bytes_mean_mib"] = round(
            statistics.fmean(d["memory"]["modelBytes"] for d in described) / 2**20, 1
        )
        result["memory"]["model_process_uss_mean_mib"] = round(statistics.fmean(hosts) / 2**20, 1)
        result["memory"]["worker_uss_mean_mib"] = round(statistics.fmean(workers) / 2**20, 1)
    say(
        f"{name}: {result['invocations_per_s']} invocations/s, hit ratio {result['hit_ratio']}, "
        f"{result['loads']} loads ({result['load_ms_mean']} ms), p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, errors {sum(result['errors'].values())}; "
        f"PSS {result['memory']['pss_per_model_mib']} MiB per loaded model"
    )
    return result


# --- sharing: one copy of a model per container, or one per worker -----------------------------

SHARING_MODELS = 3
SHARING_WORKERS = 2


def sharing(name: str, server: Server, url: str, root: Path, padding_mb: int) -> dict[str, Any]:
    """PSS of the server with no model, then with SHARING_MODELS models of `padding_mb` MiB loaded,
    SHARING_WORKERS workers each; per model, and per worker's own pages."""
    wait_ready(server, url)
    time.sleep(1.0)
    idle = memory_mib(server.pid)
    with httpx.Client(base_url=url, timeout=300, trust_env=False) as http:
        for index in range(SHARING_MODELS):
            answer = http.post(
                "/models", json={"model_name": f"big-{index}", "url": str(root / f"big-{index}")}
            )
            if answer.status_code != 200:
                raise RuntimeError(f"{name}: loading big-{index}: {answer.status_code} {answer.text[:300]}")
            body = bench_model.sagemaker_payload(bench_model.WORKLOADS[0])
            for _ in range(SHARING_WORKERS * 4):  # every worker has predicted once, most likely
                http.post(f"/models/big-{index}/invoke", content=body, headers={"Content-Type": "text/csv"})
    time.sleep(3.0)
    full = memory_mib(server.pid)
    added = [p for p in full["per_process"] if p["pid"] not in {q["pid"] for q in idle["per_process"]}]
    result = {
        "model_mb": padding_mb,
        "models": SHARING_MODELS,
        "workers_per_model": SHARING_WORKERS,
        "pss_per_model_mib": round((full["pss_mib"] - idle["pss_mib"]) / SHARING_MODELS, 1),
        "processes_added": len(added),
        "uss_per_added_process_mib": round(statistics.fmean(p["uss_kib"] for p in added) / 1024, 1)
        if added
        else None,
    }
    say(
        f"{name}: {SHARING_MODELS} models of {padding_mb} MiB, {SHARING_WORKERS} workers each: "
        f"{result['pss_per_model_mib']} MiB PSS per model, {len(added)} processes added, "
        f"{result['uss_per_added_process_mib']} MiB of their own each"
    )
    return result


def write_sharing_models(root: Path, padding_mb: int, with_code: bool) -> Path:
    source = root / "source"
    bench_model.write_model(source, padding_mb=padding_mb)
    for index in range(SHARING_MODELS):
        directory = root / f"big-{index}"
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "model.joblib", directory / "model.joblib")
        if with_code:
            (directory / "code").mkdir(exist_ok=True)
            shutil.copy2(CUSTOM_SCRIPT, directory / "code" / "inference.py")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raw = args.out / "raw" / "mme"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    models_root = raw / "models"
    names = write_models(models_root, args.models)
    results: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {
            "models": args.models,
            "cache": args.cache,
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "popularity": f"Zipf, exponent {ZIPF_EXPONENT}",
            "workers_per_model": 1,
        },
        "servers": {},
    }
    installer = setup_env.Installer(raw / "install.log")
    with Supervisor() as supervisor:
        for name in args.servers:
            if name == "byoc":
                server, url = byoc_server(raw)
            elif name == "mms":
                installer.ensure_java()
                server, url = mms_server(raw, installer.ensure_venv("mms"))
            else:
                raise SystemExit(f"unknown server {name}: byoc or mms")
            supervisor.start(server)
            try:
                results["servers"][name] = measure(name, server, url, models_root, names, args)
            finally:
                supervisor.stop(server)
            if args.no_memory:
                continue
            # byoc serves these with the scikit-learn handler (no code/: it allows loading before the
            # fork); multi-model-server needs the inference script to load anything.
            shared_root = write_sharing_models(raw / f"sharing-{name}", args.memory_model_mb, name == "mms")
            if name == "byoc":
                server, url = byoc_server(raw / "sharing", SHARING_WORKERS)
            else:
                server, url = mms_server(raw / "sharing", installer.ensure_venv("mms"), SHARING_WORKERS)
            supervisor.start(server)
            try:
                results["servers"][name]["sharing"] = sharing(
                    name, server, url, shared_root, args.memory_model_mb
                )
            finally:
                supervisor.stop(server)
    servers = results["servers"]
    if "byoc" in servers and "mms" in servers and servers["mms"]["invocations_per_s"]:
        results["ratio_invocations_per_s"] = round(
            servers["byoc"]["invocations_per_s"] / servers["mms"]["invocations_per_s"], 2
        )
    (args.out / "mme.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "mme.md").write_text(markdown(results))
    say(f"wrote {args.out / 'mme.json'} and {args.out / 'mme.md'}")
    return 0


def markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        "# Multi-model endpoints: byoc against multi-model-server",
        "",
        f"Run {results['generated_at']}: {settings['models']} models, at most {settings['cache']} loaded, "
        f"{settings['concurrency']} clients, {settings['duration_s']:g} s per server, popularity "
        f"{settings['popularity']}, one worker per model (`python -m bench.mme`).",
        "",
        "| server | invocations/s | hit ratio | loads | load ms (mean) | unload ms (mean) | p50 ms | p99 ms "
        "| errors | PSS per loaded model MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {"byoc": "byoc (SAGEMAKER_MULTI_MODEL=true)", "mms": "sagemaker-inference on multi-model-server"}
    for name, r in results["servers"].items():
        lines.append(
            f"| {labels.get(name, name)} | {r['invocations_per_s']:,} | {r['hit_ratio']} | {r['loads']} | "
            f"{r['load_ms_mean']} | {r['unload_ms_mean']} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{sum(r['errors'].values())} | {r['memory']['pss_per_model_mib']} |"
        )
    if "ratio_invocations_per_s" in results:
        lines += ["", f"byoc / multi-model-server, invocations/s: {results['ratio_invocations_per_s']}x"]
    shared = {name: r["sharing"] for name, r in results["servers"].items() if "sharing" in r}
    if shared:
        first = next(iter(shared.values()))
        lines += [
            "",
            f"Sharing: {first['models']} models of {first['model_mb']} MiB, {first['workers_per_model']} "
            "workers each (byoc: the scikit-learn handler, which loads before the fork; multi-model-server: "
            "the same inference script).",
            "",
            "| server | PSS per model MiB | processes added | own pages (USS) per added process MiB |",
            "|---|---:|---:|---:|",
        ]
        for name, r in shared.items():
            lines.append(
                f"| {labels.get(name, name)} | {r['pss_per_model_mib']} | {r['processes_added']} | "
                f"{r['uss_per_added_process_mib']} |"
            )
    byoc = results["servers"].get("byoc", {}).get("memory", {})
    if "model_bytes_mean_mib" in byoc:
        lines += [
            "",
            f"byoc, per loaded model: {byoc['model_bytes_mean_mib']} MiB accounted (the model's process "
            f"{byoc['model_process_uss_mean_mib']} MiB of its own pages at load, its worker "
            f"{byoc['worker_uss_mean_mib']} MiB USS); the server with no model: "
            f"{byoc['idle_pss_mib']} MiB PSS in {byoc['idle_processes']} processes.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
