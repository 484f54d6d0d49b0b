"""`python -m bench.reliability`: what a hostile or unlucky client costs everyone else, as figures.

    .venv/bin/python -m bench.reliability [--quick] [--compare-with REF] [--out DIR] [--duration S]

Measured on loopback against this tree's server (batching on, as deployed by default), and with
--compare-with against the same server from a git ref (exported with `git archive`, run with the
same interpreter), point by point in turn, so that both meet the same machine:

  poisoning   throughput at 64 connections when 1 request in 32 (and 1 in 8) is one the model
              refuses, in alternating rounds with a clean run (the median of each); once with the
              default handler (its checks catch the bad row before requests are stacked) and once
              with a custom predict_fn that raises on it (the batch fails; the culprits are found
              by halving it);
  ping        /ping latency (a new connection per ping, 50 a second) while wrk loads /invocations,
              for every benchmark workload and concurrency, with that run's throughput;
  headers     the workers' memory before and after 8 connections each try to send 64 MiB of headers;
  slowloris   /ping while 3,000 connections hold half-sent requests, with 1,024 file descriptors
              per process (a common container default);
  sigterm     how long a server takes to exit after SIGTERM while an upload has stalled.

Writes OUT/reliability.json and OUT/reliability.md. Every server it starts is stopped on the way
out. The figures are only as good as the machine is quiet: each wrk point records the share of the
CPUs other processes used meanwhile and the server's own CPU time per request (which other work
disturbs less than wall-clock rates); the load average is recorded at the start and the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import loadgen, model, setup_env
from bench.procs import LOOPBACK, ForeignCpu, Server, Supervisor, descendants, http, memory_of
from bench.procs import _tree_cpu_s as tree_cpu_s
from bench.run import machine_facts
from container.serving.server_process import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MIXED_LUA = HERE / "wrk" / "mixed.lua"
SECTIONS = ("poisoning", "ping", "headers", "slowloris", "sigterm")
PING_INTERVAL_S = 0.02
POISON_CONNECTIONS = 64
SLOWLORIS_CONNECTIONS = 3000
SLOWLORIS_FILES = 1024
# A custom predict_fn that refuses rows whose first value is -999: a model raising on a value the
# handler's own checks could not know about.
RAISING_MODULE = """
import os

import joblib

BYOC_HANDLER_OPTIONS = {"batchable": True}


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    if (data[:, 0] == -999).any():
        raise ValueError("a row starts with -999")
    return {"predictions": model.predict(data), "probabilities": model.predict_proba(data)}
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s points, one round")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk point")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per poisoning comparison")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated; default: all")
    parser.add_argument("--compare-with", metavar="REF", help="also measure the server at this git ref")
    parser.add_argument("--poison-rates", default="32,8", help="1 request in N poisoned, for each N")
    parser.add_argument(
        "--ping-points", help="workload:connections pairs for the ping section (default: every one)"
    )
    parser.add_argument("--server-env", default="", help="K=V,... extra settings for every server")
    parser.add_argument("--workers", type=int, help="SAGEMAKER_MODEL_SERVER_WORKERS (default: one per CPU)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where reliability.{json,md} go")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 1, 1
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    args.poison_rates = [int(n) for n in args.poison_rates.split(",")]
    points = [(w.name, c) for w in model.WORKLOADS for c in (1, 8, 64)]
    if args.ping_points:
        wanted = {tuple(p.split(":")) for p in args.ping_points.split(",")}
        points = [(w, c) for w, c in points if (w, str(c)) in wanted]
    args.ping_points = points
    args.server_env = dict(p.split("=", 1) for p in args.server_env.split(",") if p)
    return args


def say(message: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raw = args.out / "raw" / "reliability"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    wrk = setup_env.Installer(raw / "install.log").ensure_wrk()
    model_file = model.write_model(raw / "model")
    payloads = write_payloads(raw / "payloads")
    trees = {"this tree": ROOT}
    if args.compare_with:
        trees[args.compare_with] = export_tree(args.compare_with, raw / "baseline")
    results: dict[str, Any] = {
        "schema": 1,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(wrk),
        "settings": {
            "quick": args.quick,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "trees": {name: commit_of(path) for name, path in trees.items()},
            "server_env": args.server_env,
        },
    }
    started = time.monotonic()
    with Supervisor() as supervisor:
        servers = [ByocServer(supervisor, model_file, raw, name, tree, args) for name, tree in trees.items()]
        with contextlib.ExitStack() as running:
            for server in servers:
                running.enter_context(server.running())
            if "ping" in args.sections:
                results["ping_under_load"] = ping_under_load(servers, payloads, wrk, args)
            if "poisoning" in args.sections:
                results["poisoning"] = [poisoning(s, payloads, wrk, args, "nan") for s in servers]
            if "headers" in args.sections:
                results["headers"] = [header_memory(s) for s in servers]
        if "poisoning" in args.sections:
            for name, tree in trees.items():
                custom = ByocServer(supervisor, model_file, raw, name, tree, args, code=RAISING_MODULE)
                with custom.running():
                    results["poisoning"].append(poisoning(custom, payloads, wrk, args, "raising"))
        if "slowloris" in args.sections:
            results["slowloris"] = []
            for name, tree in trees.items():
                limited = ByocServer(supervisor, model_file, raw, name, tree, args, files=SLOWLORIS_FILES)
                with limited.running():
                    results["slowloris"].append(slowloris(limited))
        if "sigterm" in args.sections:
            results["sigterm"] = [
                sigterm_with_stalled_upload(ByocServer(supervisor, model_file, raw, name, tree, args))
                for name, tree in trees.items()
            ]
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reliability.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "reliability.md").write_text(markdown(results))
    say(f"wrote {args.out / 'reliability.md'} in {results['elapsed_s']} s")
    print(markdown(results))
    return 0


# --- trees, payloads and servers -----------------------------------------------------------------


def export_tree(ref: str, directory: Path) -> Path:
    """The source tree at `ref`, exported with git archive (the working tree is not touched)."""
    directory.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    (directory / ".commit").write_text(
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", ref], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    return directory


def commit_of(tree: Path) -> str:
    marker = tree / ".commit"
    if marker.exists():
        return marker.read_text()
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain", "container", "handlers"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head.stdout.strip() + (" with local changes" if dirty else "")


def write_payloads(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for workload in model.WORKLOADS:
        files[workload.name] = directory / f"{workload.name}.body"
        files[workload.name].write_bytes(model.sagemaker_payload(workload))
    clean = model.sagemaker_payload(model.WORKLOADS[0]).decode()
    # The clean row with its first cell emptied (a missing value the model refuses), and with -999
    # there (what the custom predict_fn refuses).
    files["nan"] = directory / "csv1-nan.body"
    files["nan"].write_text("," + clean.split(",", 1)[1])
    files["raising"] = directory / "csv1-raising.body"
    files["raising"].write_text("-999," + clean.split(",", 1)[1])
    return files


@dataclass
class ByocServer:
    supervisor: Supervisor
    model_file: Path
    raw: Path
    name: str  # "this tree" or the compared ref
    tree: Path
    args: argparse.Namespace
    code: str | None = None
    files: int | None = None  # RLIMIT_NOFILE for the server, when set
    port: int = 0
    server: Server | None = None

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def slug(self) -> str:
        kind = "custom" if self.code else "default"
        return f"{self.name.replace(' ', '-').replace('/', '-')}-{kind}{'-limited' if self.files else ''}"

    def start(self) -> None:
        model_dir = self.raw / "servers" / self.slug
        shutil.rmtree(model_dir, ignore_errors=True)
        model_dir.mkdir(parents=True)
        (model_dir / "model.joblib").write_bytes(self.model_file.read_bytes())
        if self.code is not None:
            (model_dir / "code").mkdir()
            (model_dir / "code" / "inference.py").write_text(self.code)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))}
        env = {k: v for k, v in env.items() if "proxy" not in k.lower()}
        env.update(
            {
                "BYOC_MODEL_DIR": str(model_dir),
                "BYOC_BIND_HOST": LOOPBACK,
                "SAGEMAKER_BIND_TO_PORT": str(self.port),
                "BYOC_BATCHING": "on",
                "PYTHONPATH": str(self.tree),
                **self.args.server_env,
            }
        )
        if self.args.workers is not None:
            env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(self.args.workers)
        argv = [sys.executable, "-m", "container.serving.server", "serve"]
        if self.files:
            argv = ["sh", "-c", f'ulimit -n {self.files} && exec "$@"', "serve", *argv]
        self.server = Server(self.slug, argv, env, self.tree, self.raw / "logs" / f"{self.slug}.log")
        self.supervisor.start(self.server)
        deadline = time.monotonic() + 120
        while http("GET", f"{self.base}/ping")[0] != 200:
            if not self.server.running() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.slug} did not become ready:\n{self.server.log_tail()}")
            time.sleep(0.1)
        time.sleep(1)  # every worker booted, not only the first to answer
        say(f"== {self.slug} ready on port {self.port}")

    @contextlib.contextmanager
    def running(self) -> Iterator[ByocServer]:
        self.start()
        try:
            yield self
        finally:
            assert self.server is not None
            self.supervisor.stop(self.server)

    def worker_pids(self) -> list[int]:
        assert self.server is not None
        return [pid for pid in descendants(self.server.pid) if "serve" in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def run_wrk(
    server: ByocServer,
    wrk: str,
    payload: Path,
    content_type: str,
    connections: int,
    duration: int,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    assert server.server is not None
    foreign = ForeignCpu(server.server.pid)
    cpu_before = tree_cpu_s(server.server.pid)
    point = loadgen.run_wrk(
        wrk,
        server.port,
        "/invocations",
        payload,
        content_type,
        "application/json",
        connections,
        duration,
        script=MIXED_LUA,
        extra=extra,
    )
    point["other_cpu_share"] = round(foreign.share(), 3)
    # The server's own CPU time per request: what a request costs, whatever else the machine did.
    cpu = tree_cpu_s(server.server.pid) - cpu_before
    point["server_cpu_us_per_request"] = round(cpu / max(point["requests"], 1) * 1e6, 1)
    return point


# --- poisoning -----------------------------------------------------------------------------------


def poisoning(
    server: ByocServer, payloads: dict[str, Path], wrk: str, args: argparse.Namespace, poison: str
) -> dict[str, Any]:
    """Clean against 1-in-N poisoned, in alternating rounds; the medians and their ratios."""
    say(
        f"== poisoning ({poison}) on {server.name} at c={POISON_CONNECTIONS}: "
        f"clean vs 1 in {args.poison_rates}"
    )
    kinds = ["clean", *(f"1/{n}" for n in args.poison_rates)]
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    warm_up = max(args.duration // 2, 1)
    run_wrk(server, wrk, payloads["csv1"], "text/csv", POISON_CONNECTIONS, warm_up)
    for round_ in range(args.rounds):
        for kind in kinds if round_ % 2 == 0 else list(reversed(kinds)):
            extra = () if kind == "clean" else (str(payloads[poison]), kind.split("/")[1])
            point = run_wrk(
                server, wrk, payloads["csv1"], "text/csv", POISON_CONNECTIONS, args.duration, extra
            )
            refused = point["errors"]["status"]
            point["answered_200_per_s"] = round((point["requests"] - refused) / point["seconds"], 1)
            runs[kind].append(point)
            say(
                f"   {kind:6s} {point['requests_per_s']:>9.1f} req/s ({refused} refused)  "
                f"{point['server_cpu_us_per_request']:6.0f} us CPU/req  "
                f"other CPU {point['other_cpu_share']:.0%}"
            )
    medians = {kind: statistics.median(p["requests_per_s"] for p in runs[kind]) for kind in kinds}
    cpu = {kind: statistics.median(p["server_cpu_us_per_request"] for p in runs[kind]) for kind in kinds}
    return {
        "server": server.name,
        "poison": poison,
        "workload": "csv1",
        "connections": POISON_CONNECTIONS,
        "median_requests_per_s": medians,
        "ratio_to_clean": {kind: round(medians[kind] / medians["clean"], 3) for kind in kinds[1:]},
        "median_cpu_us_per_request": cpu,
        "runs": runs,
    }


# --- /ping under load ------------------------------------------------------------------------------


class Pinger:
    """GET /ping on a new connection every PING_INTERVAL_S, in a thread; the latencies in ms."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(PING_INTERVAL_S):
            try:
                self.latencies.append(ping_once(self.port))
            except OSError:
                self.failures += 1

    def summary(self) -> dict[str, Any]:
        return {**percentiles(self.latencies), "failures": self.failures}


def percentiles(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"pings": 0}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)

    return {"pings": len(ordered), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(ordered[-1], 2)}


def ping_once(port: int, timeout: float = 5.0) -> float:
    """One /ping on a fresh connection: ms from connect to the whole answer; OSError unless a 200."""
    started = time.perf_counter()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    elapsed = (time.perf_counter() - started) * 1000
    if not answer.startswith(b"HTTP/1.1 200"):
        raise OSError(f"/ping answered {answer[:40]!r}")
    return elapsed


def ping_under_load(
    servers: list[ByocServer], payloads: dict[str, Path], wrk: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every point on every server in turn (the order alternating), so both meet the same machine."""
    say("== /ping under load")
    workloads = {w.name: w for w in model.WORKLOADS}
    points = []
    for index, (name, connections) in enumerate([("idle", 0), *args.ping_points]):
        for server in servers if index % 2 == 0 else list(reversed(servers)):
            if name == "idle":
                with Pinger(server.port) as pinger:
                    time.sleep(min(args.duration, 3))
                entry = {
                    "server": server.name,
                    "workload": "idle",
                    "connections": 0,
                    "ping": pinger.summary(),
                }
            else:
                workload = workloads[name]
                with Pinger(server.port) as pinger:
                    point = run_wrk(
                        server, wrk, payloads[name], workload.content_type, connections, args.duration
                    )
                entry = {
                    "server": server.name,
                    "workload": name,
                    "connections": connections,
                    "requests_per_s": point["requests_per_s"],
                    "errors": point["error_count"],
                    "server_cpu_us_per_request": point["server_cpu_us_per_request"],
                    "other_cpu_share": point["other_cpu_share"],
                    "ping": pinger.summary(),
                }
            points.append(entry)
            ping = entry["ping"]
            say(
                f"   {server.name:12s} {name:7s} c={connections:<3d} "
                f"{entry.get('requests_per_s', 0):>8.0f} req/s  /ping p50 {ping.get('p50_ms')} "
                f"p99 {ping.get('p99_ms')} ms ({ping.get('failures')} failed)  "
                f"other CPU {entry.get('other_cpu_share', 0):.0%}"
            )
    return points


# --- headers, stalled connections, SIGTERM ---------------------------------------------------------


def header_memory(server: ByocServer, connections: int = 8, size: int = 64 * 2**20) -> dict[str, Any]:
    """Each of `connections` tries to send `size` bytes of one header line; the workers' memory growth."""
    say(f"== headers on {server.name}: {connections} connections x {size >> 20} MiB of header")
    pids = server.worker_pids()
    before = _rss_kib(pids)
    outcomes: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(_send_huge_header(server.port, size)))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = _rss_kib(pids)
    result = {
        "server": server.name,
        "connections": connections,
        "bytes_each": size,
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "growth_mib": round((after - before) / 1024, 1),
        "answers": sorted({o["status_line"] for o in outcomes}),
    }
    say(f"   {result}")
    return result


def _rss_kib(pids: list[int]) -> int:
    return sum((memory_of(pid) or {}).get("rss_kib", 0) for pid in pids)


def _send_huge_header(port: int, size: int) -> dict[str, Any]:
    sent = 0
    chunk = b"a" * 65536
    with socket.create_connection((LOOPBACK, port), timeout=60) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: bench\r\nX-Big: ")
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\nContent-Length: 0\r\n\r\n")
        try:
            answer = sock.recv(200)
        except OSError as exc:
            answer = f"no answer ({type(exc).__name__})".encode()
    return {"sent_bytes": sent, "status_line": answer.split(b"\r\n", 1)[0].decode(errors="replace")}


def slowloris(server: ByocServer) -> dict[str, Any]:
    """Hold SLOWLORIS_CONNECTIONS half-sent requests, then ping 50 times; how /ping fares meanwhile."""
    say(f"== slowloris on {server.name}: {SLOWLORIS_CONNECTIONS} half-sent requests, {server.files} files")
    held: list[socket.socket] = []
    refused = 0
    latencies: list[float] = []
    failures: list[str] = []
    try:
        for _ in range(SLOWLORIS_CONNECTIONS):
            try:
                sock = socket.create_connection((LOOPBACK, server.port), timeout=5)
                sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Ty")
                held.append(sock)
            except OSError:
                refused += 1
        time.sleep(1)
        for _ in range(50):
            try:
                latencies.append(ping_once(server.port, timeout=2))
            except OSError as exc:
                failures.append(str(exc))
            time.sleep(PING_INTERVAL_S)
        still_open = sum(1 for sock in held if _still_waiting(sock))
    finally:
        for sock in held:
            sock.close()
    result = {
        "server": server.name,
        "connections": SLOWLORIS_CONNECTIONS,
        "open_files_limit": server.files,
        "refused_at_connect": refused,
        "ping": {**percentiles(latencies), "failures": len(failures)},
        "ping_failure_reasons": sorted(set(failures)),
        "held_still_open": still_open,
    }
    say(f"   {result}")
    return result


def _still_waiting(sock: socket.socket) -> bool:
    """Neither answered nor closed by the server."""
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False


def sigterm_with_stalled_upload(server: ByocServer) -> dict[str, Any]:
    """Seconds from SIGTERM to the server's exit while one upload has stalled (10 of 1,000 bytes)."""
    say(f"== SIGTERM on {server.name} with a stalled upload")
    server.start()
    assert server.server is not None and server.server.process is not None
    with socket.create_connection((LOOPBACK, server.port), timeout=60) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 1000\r\n\r\n5.1,3.5,1."
        )
        time.sleep(0.5)
        started = time.monotonic()
        server.server.process.send_signal(15)
        status = server.server.process.wait(60)
        seconds = round(time.monotonic() - started, 2)
        try:
            answer = sock.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as exc:
            answer = f"no answer ({type(exc).__name__})"
    server.supervisor.stop(server.server)
    result = {
        "server": server.name,
        "exit_seconds": seconds,
        "exit_status": status,
        "upload_answered": answer,
    }
    say(f"   {result}")
    return result


# --- report ----------------------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    trees = results["settings"]["trees"]
    lines = [
        "# Reliability figures",
        "",
        f"`python -m bench.reliability` at {results['generated_at']} on {machine.get('cpus')} CPUs "
        f"({machine.get('cpu')}); load average {machine.get('load_average_at_start'):.1f} at the start, "
        f"{machine.get('load_average_at_end', 0):.1f} at the end. Servers: "
        + "; ".join(f"{name} = {commit}" for name, commit in trees.items())
        + ".",
        "",
    ]
    if "poisoning" in results:
        lines += [
            "## Batch poisoning (1-row CSV, 64 connections, batching on; medians of alternating rounds)",
            "",
            "| server | predict_fn | clean req/s | 1 in 32 poisoned | ratio | 1 in 8 poisoned | ratio |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for entry in results["poisoning"]:
            medians, ratios = entry["median_requests_per_s"], entry["ratio_to_clean"]
            label = "sklearn handler, empty cell" if entry["poison"] == "nan" else "custom, raises on -999"
            cells = []
            for kind in ("1/32", "1/8"):
                cells += [f"{medians[kind]:.0f}", f"{ratios[kind]:.2f}"] if kind in medians else ["-", "-"]
            lines.append(
                f"| {entry['server']} | {label} | {medians['clean']:.0f} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    if "ping_under_load" in results:
        lines += [
            "## /ping under load (a new connection per ping, 50 a second)",
            "",
            "| server | workload | connections | req/s | CPU us/req | /ping p50 ms | p99 ms | max ms "
            "| other CPU |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in results["ping_under_load"]:
            ping = p["ping"]
            lines.append(
                f"| {p['server']} | {p['workload']} | {p['connections']} | "
                f"{p.get('requests_per_s', 0):.0f} | {p.get('server_cpu_us_per_request', 0):.0f} | "
                f"{ping.get('p50_ms')} | {ping.get('p99_ms')} | "
                f"{ping.get('max_ms')} | {p.get('other_cpu_share', 0):.0%} |"
            )
        lines.append("")
    if "headers" in results:
        lines += ["## Oversized headers (8 connections, each trying 64 MiB of one header line)", ""]
        lines += ["| server | answers | workers' RSS before | after |", "|---|---|---:|---:|"]
        for h in results["headers"]:
            lines.append(
                f"| {h['server']} | {', '.join(h['answers'])} | {h['rss_before_mib']} MiB | "
                f"{h['rss_after_mib']} MiB |"
            )
        lines.append("")
    if "slowloris" in results:
        lines += [
            f"## Slowloris ({SLOWLORIS_CONNECTIONS} half-sent requests, {SLOWLORIS_FILES} files per process)",
            "",
            "| server | /ping answered | p50 ms | max ms | held connections still open |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in results["slowloris"]:
            ping = s["ping"]
            lines.append(
                f"| {s['server']} | {ping.get('pings', 0)} of {ping.get('pings', 0) + ping['failures']} | "
                f"{ping.get('p50_ms', '-')} | {ping.get('max_ms', '-')} | {s['held_still_open']} |"
            )
        lines.append("")
    if "sigterm" in results:
        lines += ["## SIGTERM with a stalled upload (10 of 1,000 bytes sent)", ""]
        lines += ["| server | exit after | exit status | the upload's answer |", "|---|---:|---:|---|"]
        for t in results["sigterm"]:
            lines.append(
                f"| {t['server']} | {t['exit_seconds']} s | {t['exit_status']} | {t['upload_answered']} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
