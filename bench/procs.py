"""Server processes: start in their own session, find their process tree, measure memory, stop.

Every process the harness starts goes through `Supervisor`, which stops them all (SIGTERM to the
main process as `docker stop` does, then SIGKILL to its process group and to any descendant or
session member left) on normal exit, on an exception and on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from container.serving.server_process import LOOPBACK

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None, timeout=5.0
) -> tuple[int | None, bytes, dict[str, str]]:
    """(status, body, headers); status None when nothing answered."""
    assert url.startswith(f"http://{LOOPBACK}:"), url  # loopback only, always
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
    except OSError:
        return None, b"", {}


# --- the process tree and its memory -----------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after the last ')'.
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[3])


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, and every process in its session (servers are session leaders):
    a daemon that was re-parented away, such as the Java frontend `multi-model-server --start`
    leaves behind, still belongs to the server."""
    children = _children_map()
    found: set[int] = set()
    stack = list(children.get(pid, []))
    stack += [p for kids in children.values() for p in kids if p != pid and _session_of(p) == pid]
    while stack:
        child = stack.pop()
        if child in found:
            continue
        found.add(child)
        stack.extend(children.get(child, []))
    return sorted(found)


def memory_of(pid: int) -> dict[str, Any] | None:
    """RSS, PSS and USS (private clean + dirty) in KiB from /proc/PID/smaps_rollup, and the command."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in rollup.splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return {
        "pid": pid,
        "command": cmdline.strip()[:160],
        "rss_kib": fields.get("Rss", 0),
        "pss_kib": fields.get("Pss", 0),
        "uss_kib": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
    }


def tree_memory(root: int) -> dict[str, Any]:
    """Memory of a server's whole process tree: per process and totals (MiB)."""
    processes = [m for pid in [root, *descendants(root)] if (m := memory_of(pid)) is not None]
    for process in processes:
        process["role"] = "master" if process["pid"] == root else "child"
    total = {
        key.replace("_kib", "_mib"): round(sum(p[key] for p in processes) / 1024, 1)
        for key in ("rss_kib", "pss_kib", "uss_kib")
    }
    return {"processes": len(processes), **total, "per_process": processes}


# --- starting and stopping ---------------------------------------------------------------------


class Server:
    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM to the main process, SIGKILL to its group after `grace` seconds; every descendant
        (and session member) still alive after that is killed too."""
        if self.process is None:
            return None
        pid = self.process.pid
        tree = descendants(pid)
        if self.process.poll() is None:
            # As `docker stop` does: SIGTERM to the server's main process only, which stops its own.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self.process.wait()
        # Children that outlived the master, or that left its process group.
        deadline = time.monotonic() + 5
        for child in tree:
            while _alive(child) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(child):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # anything left in the group
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"


class Supervisor:
    """Owns every server the harness starts; `with Supervisor() as sup:` stops them all on the way out."""

    def __init__(self) -> None:
        self.servers: list[Server] = []

    def start(self, server: Server) -> Server:
        self.servers.append(server)
        server.start()
        return server

    def stop(self, server: Server) -> int | None:
        code = server.stop()
        if server in self.servers:
            self.servers.remove(server)
        return code

    def stop_all(self) -> None:
        while self.servers:
            self.stop(self.servers[-1])

    def __enter__(self) -> Supervisor:
        self._previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGTERM, self._previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- other work on the machine -----------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    """CPU seconds all CPUs have spent running processes (user, nice, system) or stolen by the host.

    Interrupt and softirq time is left out: the kernel charges loopback TCP processing there, not
    to the processes that caused it, and here that is mostly the benchmark's own traffic.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, steal = fields[0], fields[1], fields[2], fields[7]
    return (user + nice + system + steal) / _TICKS


def _tree_cpu_s(root: int) -> float:
    total = 0
    for pid in [root, *descendants(root)]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _own_cpu_s() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


class ForeignCpu:
    """How busy the machine was with work other than the server, wrk and the harness.

    snapshot() before a measurement, share() after it: the fraction of all CPUs used by other
    processes meanwhile. Other work competes with the server for the same two cores, so a point
    measured beside it is not comparable.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.snapshot()

    def snapshot(self) -> None:
        self._at = (time.monotonic(), _machine_busy_s(), _tree_cpu_s(self.server_pid), _own_cpu_s())

    def share(self) -> float:
        now = (time.monotonic(), _machine_busy_s(), _tree_cpu_s(self.server_pid), _own_cpu_s())
        wall = now[0] - self._at[0]
        if wall <= 0:
            return 0.0
        other = (now[1] - self._at[1]) - (now[2] - self._at[2]) - (now[3] - self._at[3])
        return max(other, 0.0) / (wall * (os.cpu_count() or 1))
