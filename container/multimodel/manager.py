"""The manager: the one process that knows which models are loaded, and where their memory goes.

Forked by `serve` before its front workers, it stays single-threaded so that it can fork a model's
process (container.multimodel.host) at any time; the runtime's modules, the handlers and their
frameworks are imported here first, so every model's process shares those pages instead of
importing its own copy. The front workers ask it over a Unix socket, one JSON line per request and
one per answer:

    {"op": "load", "model_name", "url"}    -> 200 | 400 | 404 | 409 | 507 | 500 (model_load_failed)
    {"op": "unload", "model_name"}         -> 200 | 404 | 409
    {"op": "list", "limit", "next_page_token"}, {"op": "describe", "model_name"}

Loads and unloads do not block it: a load forks the model's process and is answered when that
process reports (through a pipe) that the model loaded, or why not; an unload is answered when the
model's processes have exited and their memory is free. While a load is under way the container's
memory is watched: a load that outgrows its estimate is killed before the kernel's OOM killer
chooses a victim, and answered 507.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from container.config import ServerConfig
from container.multimodel import catalog, host, memory
from container.multimodel.catalog import CatalogError, ModelRecord, ModelState
from container.telemetry.metrics import ModelCacheMetrics

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
WATCH_SECONDS = 0.05  # memory checks while a load is under way
IDLE_SECONDS = 1.0
REMEASURE_AFTER_SECONDS = 2.0  # a model's memory again once its workers have started
PR_SET_PDEATHSIG = 1


@dataclass
class _Client:
    conn: socket.socket
    buffer: bytearray = field(default_factory=bytearray)


@dataclass
class _Load:
    record: ModelRecord
    client: _Client
    status_fd: int
    started: float
    buffer: bytearray = field(default_factory=bytearray)


@dataclass
class _Unload:
    record: ModelRecord
    clients: list[_Client]
    started: float
    deadline: float


class Manager:
    def __init__(
        self,
        config: ServerConfig,
        run_dir: Path,
        control: socket.socket,
        server_pid: int,
        shared_packages: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.shared_packages = shared_packages
        self.run_dir = run_dir
        self.control = control
        self.server_pid = server_pid
        self.workers = config.model_workers or 1
        self.records: dict[str, ModelRecord] = {}
        self.loads: dict[int, _Load] = {}  # by the model process's pid
        self.unloads: dict[int, _Unload] = {}
        # Memory measured at earlier loads, by model directory and its files' sizes and times: the
        # estimate for loading the same model again.
        self.measured: dict[tuple[str, int, int], int] = {}
        self.worker_bytes: int | None = None
        self.pending_measure: dict[str, float] = {}  # name -> when to measure it again
        self.metrics = ModelCacheMetrics()
        self.selector = selectors.DefaultSelector()
        self.stopping = False

    # --- the loop ------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        self.control.setblocking(False)
        self.selector.register(self.control, selectors.EVENT_READ, ("accept", None))
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
        parent = os.getppid()
        log.info("model manager ready (pid %d): models load through POST /models", os.getpid())
        while not self.stopping:
            timeout = WATCH_SECONDS if self.loads or self.unloads else IDLE_SECONDS
            for key, _ in self.selector.select(timeout):
                kind, item = key.data
                try:
                    if kind == "accept":
                        self._accept()
                    elif kind == "client":
                        self._read_client(item)
                    elif kind == "status":
                        self._read_status(item)
                except Exception:  # one bad request or report must not end the manager
                    log.exception("the model manager failed to handle a %s event", kind)
            self._reap()
            self._watch_loads()
            self._expire_unloads()
            self._remeasure()
            if os.getppid() != parent:
                log.error("the server process is gone: the model manager stops")
                break
        self._shutdown()

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True

    # --- requests ------------------------------------------------------------------------------

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                conn, _ = self.control.accept()
                conn.setblocking(False)
                client = _Client(conn)
                self.selector.register(conn, selectors.EVENT_READ, ("client", client))

    def _read_client(self, client: _Client) -> None:
        try:
            chunk = client.conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(client)
            return
        client.buffer += chunk
        if len(client.buffer) > MAX_REQUEST_BYTES:
            self._answer(client, 400, {"code": "invalid_model_request", "message": "request too large"})
            return
        if b"\n" not in client.buffer:
            return
        self.selector.unregister(client.conn)
        line = bytes(client.buffer).split(b"\n", 1)[0]
        try:
            request = orjson.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
            self._dispatch(client, request)
        except CatalogError as exc:
            self._answer(client, exc.status, exc.body())
        except ValueError as exc:
            body = {"code": "invalid_model_request", "message": f"malformed request: {exc}"}
            self._answer(client, 400, body)
        except Exception:  # a fault of ours: logged with its traceback, answered without it
            log.exception("the model manager failed to handle a request")
            body = {"code": "model_manager_failed", "message": "the model manager failed; see its log"}
            self._answer(client, 500, body)

    def _dispatch(self, client: _Client, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "load":
            self._load(client, request)
        elif op == "unload":
            self._unload(client, str(request.get("model_name", "")))
        elif op == "list":
            ready = {r.name: r.url for r in self.records.values() if r.state is ModelState.READY}
            answer = catalog.page(ready, request.get("limit"), request.get("next_page_token"))
            self._answer(client, 200, answer)
        elif op == "describe":
            record = self._known(str(request.get("model_name", "")))
            total, each = memory.tree_memory(record.pid)
            roles = [(pid, "model" if pid == record.pid else "worker", usage) for pid, usage in each]
            self._answer(client, 200, record.describe(total, roles))
        else:
            raise ValueError(f"unknown op {op!r}")

    def _known(self, name: str) -> ModelRecord:
        record = self.records.get(name)
        if record is None:
            raise CatalogError(404, "model_not_loaded", f"model {name} is not loaded")
        return record

    def _answer(self, client: _Client, status: int, body: dict[str, Any]) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.conn)
        try:
            client.conn.setblocking(True)
            client.conn.settimeout(5)
            client.conn.sendall(orjson.dumps({"status": status, "body": body}) + b"\n")
        except OSError:
            log.warning("a front worker left before its answer (%d) was sent", status)
        finally:
            client.conn.close()

    def _drop(self, client: _Client) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.conn)
        client.conn.close()

    # --- loading -------------------------------------------------------------------------------

    def _load(self, client: _Client, request: dict[str, Any]) -> None:
        name, url = catalog.check_load_request(request)
        existing = self.records.get(name)
        if existing is not None:
            what = "is already loaded"
            if existing.state is not ModelState.READY:
                what = f"is {existing.state.value.lower()}"
            raise CatalogError(409, "model_already_loaded", f"model {name} {what}", modelUrl=existing.url)
        model_dir = catalog.check_url(url)
        signature = _signature(model_dir)
        needed = memory.estimate(signature[1], self.workers, self.measured.get(signature), self.worker_bytes)
        usage = self._usage()
        kept_free = memory.headroom(usage.limit, self.config.memory_headroom_bytes)
        # What loads under way will still take: their estimates, less what they hold already
        # (counted in the use).
        reserved = sum(
            max(load.record.estimate - memory.tree_memory(load.record.pid)[0].uss, 0)
            for load in self.loads.values()
        )
        admission = memory.admit(needed, usage, reserved, kept_free)
        if not admission.admitted:
            self.metrics.refusals.labels("memory").inc()
            log.warning("refusing to load %s: %s", name, admission.message(name))
            raise CatalogError(
                507,
                "insufficient_memory",
                admission.message(name),
                neededBytes=admission.needed,
                freeBytes=max(admission.free, 0),
                limitBytes=admission.limit,
                headroomBytes=admission.headroom,
            )
        plan = host.HostPlan(
            name=name,
            model_dir=model_dir,
            socket_path=self._socket(name).with_suffix(".loading"),
            workers=self.workers,
            overlays=self.run_dir / "overlays",
            shared_packages=self.shared_packages,
        )
        pid, status_fd = self._fork_host(plan)
        record = ModelRecord(
            name=name,
            url=url,
            state=ModelState.LOADING,
            pid=pid,
            workers=self.workers,
            target_model=request.get("target_model") or None,
            started_at=time.time(),
            estimate=needed,
        )
        self.records[name] = record
        load = _Load(record, client, status_fd, time.monotonic())
        self.loads[pid] = load
        self.selector.register(status_fd, selectors.EVENT_READ, ("status", load))
        log.info(
            "loading model %s from %s (pid %d): estimate %d MiB; %d of %d MiB in use (%s)",
            name,
            url,
            pid,
            needed // memory.MIB,
            usage.used // memory.MIB,
            usage.limit // memory.MIB,
            usage.source,
        )

    def _fork_host(self, plan: host.HostPlan) -> tuple[int, int]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the model's process
            code = 1
            try:
                os.close(read_fd)
                self._become_host()
                code = host.run_host(self.config, plan, write_fd)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                log.exception("model %s: its process failed", plan.name)
            finally:
                os._exit(code)
        os.close(write_fd)
        return pid, read_fd

    def _become_host(self) -> None:
        """In the forked child: drop the manager's sockets and pipes, and its signal handlers."""
        os.setpgid(0, 0)  # its own process group: its workers stop (or are killed) with it
        _die_with_parent()
        for key in list(self.selector.get_map().values()):
            with contextlib.suppress(OSError):
                os.close(key.fd)
        self.selector.close()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)

    def _read_status(self, load: _Load) -> None:
        try:
            chunk = os.read(load.status_fd, 65536)
        except OSError:
            chunk = b""
        load.buffer += chunk
        if b"\n" in load.buffer:
            event = orjson.loads(bytes(load.buffer).split(b"\n", 1)[0])
            self._settle(load, event)
        elif not chunk:
            self._close_status(load)  # the process exited without a word: _reap answers

    def _settle(self, load: _Load, event: dict[str, Any]) -> None:
        record = load.record
        self._close_status(load)
        self.loads.pop(record.pid, None)
        if event.get("event") != "loaded":
            self._fail_load(load, str(event.get("reason", "")), bool(event.get("out_of_memory")))
            return
        # A second name for the same socket (gunicorn removes the first when the model stops): from
        # now on the front's invocations find it.
        os.link(self._socket(record.name).with_suffix(".loading"), self._socket(record.name))
        record.state = ModelState.READY
        record.loaded_at = time.time()
        record.load_seconds = time.monotonic() - load.started
        record.handler = str(event.get("handler", ""))
        self._learn(event.get("modules") or [])
        measured = event.get("memory") or {}
        record.memory = memory.ProcessMemory(
            int(measured.get("rss", 0)), int(measured.get("pss", 0)), int(measured.get("uss", 0))
        )
        record.shared = bool(event.get("shared"))
        record.accounted = self._accounted(record)
        self.pending_measure[record.name] = time.monotonic() + REMEASURE_AFTER_SECONDS
        self.metrics.loading.labels(record.name).observe(record.load_seconds)
        self.metrics.loaded.inc()
        self.metrics.memory.labels(record.name).set(record.memory.uss)
        log.info(
            "model %s loaded in %.2f s (%s handler; %d MiB)",
            record.name,
            record.load_seconds,
            record.handler,
            record.memory.uss // memory.MIB,
        )
        self._answer(
            load.client,
            200,
            {"status": f"Model {record.name} loaded", "modelName": record.name, "modelUrl": record.url},
        )

    def _learn(self, modules: list[str]) -> None:
        """Import here what a model's load imported of the shared packages (a model's pickle imports
        its estimator's modules): the next models forked from this process have them already."""
        for name in modules:
            if name in sys.modules or name.partition(".")[0] not in self.shared_packages:
                continue
            try:
                importlib.import_module(name)
            except Exception as exc:  # only an optimisation: the model loaded anyway
                log.debug("could not import %s ahead of the next models: %r", name, exc)

    def _fail_load(self, load: _Load, reason: str, out_of_memory: bool) -> None:
        record = load.record
        self.records.pop(record.name, None)
        self._kill_tree(record.pid, signal.SIGKILL)
        self._socket(record.name).with_suffix(".loading").unlink(missing_ok=True)
        if out_of_memory:
            self.metrics.refusals.labels("memory").inc()
            message = f"model {record.name} ran out of memory while loading: {reason}"
            log.warning("%s", message)
            self._answer(load.client, 507, {"code": "insufficient_memory", "message": message})
            return
        self.metrics.refusals.labels("model").inc()
        message = f"model {record.name} failed to load: {reason or 'its process exited'}"
        log.warning("%s", message)
        self._answer(load.client, 500, {"code": "model_load_failed", "message": message})

    def _close_status(self, load: _Load) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(load.status_fd)
        with contextlib.suppress(OSError):
            os.close(load.status_fd)

    def _watch_loads(self) -> None:
        """A load that outgrows its estimate is killed before the container runs out of memory."""
        if not self.loads:
            return
        usage = self._usage()
        kept_free = memory.headroom(usage.limit, self.config.memory_headroom_bytes)
        if not memory.over_limit(usage, kept_free):
            return
        for load in list(self.loads.values()):
            self.loads.pop(load.record.pid, None)
            self._close_status(load)
            reason = (
                f"it outgrew its estimate of {load.record.estimate // memory.MIB} MiB and was stopped "
                f"with {usage.used // memory.MIB} MiB of {usage.limit // memory.MIB} MiB in use"
            )
            self._fail_load(load, reason, out_of_memory=True)

    # --- unloading -----------------------------------------------------------------------------

    def _unload(self, client: _Client, name: str) -> None:
        record = self._known(name)
        if record.state is ModelState.LOADING:
            message = f"model {name} is still loading: unload it once loaded"
            raise CatalogError(409, "model_still_loading", message)
        for pending in self.unloads.values():
            if pending.record.name == name:
                pending.clients.append(client)
                return
        # Gone from the routes first: new invocations get 404 while those in flight finish.
        self._socket(name).unlink(missing_ok=True)
        record.state = ModelState.UNLOADING
        now = time.monotonic()
        grace = self.config.timeout_seconds + 5
        self.unloads[record.pid] = _Unload(record, [client], now, now + grace)
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGTERM)  # gunicorn stops its workers gracefully, then exits

    def _expire_unloads(self) -> None:
        now = time.monotonic()
        for unload in self.unloads.values():
            if now > unload.deadline:
                log.warning("model %s did not stop in time: killing its processes", unload.record.name)
                self._kill_tree(unload.record.pid, signal.SIGKILL)
                unload.deadline = float("inf")

    # --- processes -----------------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._exited(pid, status)

    def _exited(self, pid: int, status: int) -> None:
        from container.telemetry import metrics as telemetry

        telemetry.worker_exited(pid)
        # Workers the model's process had not reaped (killed with it) are gone as well.
        self._kill_tree(pid, signal.SIGKILL)
        if pid in self.loads:
            load = self.loads.pop(pid)
            self._close_status(load)
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            self._fail_load(load, _exit_reason(status), out_of_memory=killed)
            return
        if pid in self.unloads:
            unload = self.unloads.pop(pid)
            seconds = time.monotonic() - unload.started
            self._forget(unload.record)
            self.metrics.unloading.labels(unload.record.name).observe(seconds)
            log.info("model %s unloaded in %.2f s", unload.record.name, seconds)
            for client in unload.clients:
                self._answer(client, 200, {"status": f"Model {unload.record.name} unloaded"})
            return
        for record in list(self.records.values()):
            if record.pid == pid:
                why = _exit_reason(status)
                log.error("model %s: %s; it is no longer loaded", record.name, why)
                self._socket(record.name).unlink(missing_ok=True)
                self._forget(record)

    def _forget(self, record: ModelRecord) -> None:
        self.records.pop(record.name, None)
        self.pending_measure.pop(record.name, None)
        if record.loaded_at is not None:
            self.metrics.loaded.dec()
            self.metrics.memory.labels(record.name).set(0)

    def _remeasure(self) -> None:
        """Once its workers have started: the model's whole memory, kept as its next load's estimate."""
        now = time.monotonic()
        for name, when in list(self.pending_measure.items()):
            record = self.records.get(name)
            if record is None or record.state is not ModelState.READY:
                self.pending_measure.pop(name, None)
                continue
            if now < when:
                continue
            each = memory.tree_memory(record.pid)[1]
            if len(each) < record.workers + 1:
                self.pending_measure[name] = now + REMEASURE_AFTER_SECONDS  # workers still starting
                continue
            self.pending_measure.pop(name)
            accounted = self._accounted(record)
            record.accounted = accounted
            workers = [usage.uss for pid, usage in each if pid != record.pid]
            if workers:
                self.worker_bytes = max(self.worker_bytes or 0, max(workers))
            with contextlib.suppress(OSError):
                self.measured[_signature(Path(record.url))] = accounted
            self.metrics.memory.labels(name).set(accounted)
            log.info(
                "model %s: %d MiB (the model's process %d MiB at load, its %d worker(s) %s MiB each)",
                name,
                accounted // memory.MIB,
                record.memory.uss // memory.MIB,
                len(workers),
                "/".join(str(w // memory.MIB) for w in workers),
            )

    def _usage(self) -> memory.Usage:
        models: dict[int, int] = {}
        if self.config.memory_limit_bytes is not None:  # counted by process; else the cgroup counts
            models = {record.pid: self._accounted(record) for record in self.records.values()}
        return memory.container_usage(self.config.memory_limit_bytes, self.server_pid, models)

    def _accounted(self, record: ModelRecord) -> int:
        """A model's memory: what its process held once loaded (before its workers shared it), and
        its workers' own pages; for a model loaded by each worker, or still loading, what its
        processes hold now (their own pages)."""
        total, each = memory.tree_memory(record.pid)
        if record.state is ModelState.LOADING or not record.shared:
            return total.uss
        own = max(record.memory.uss, each[0][1].uss if each else 0)
        return own + sum(usage.uss for pid, usage in each if pid != record.pid)

    def _kill_tree(self, pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    def _socket(self, name: str) -> Path:
        return self.run_dir / catalog.socket_name(name)

    def _shutdown(self) -> None:
        """Stop every model's processes: SIGTERM, then SIGKILL after the grace time."""
        pids = {record.pid for record in self.records.values()}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while pids and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid:
                    pids.discard(pid)
                    continue
            time.sleep(0.05)
        for pid in pids:
            self._kill_tree(pid, signal.SIGKILL)
        log.info("model manager stopped")


def _signature(model_dir: Path) -> tuple[str, int, int]:
    """A model directory as it is now: its path, its files' total size and latest change."""
    size = memory.directory_bytes(model_dir)
    latest = max((int(p.stat().st_mtime_ns) for p in model_dir.rglob("*") if p.is_file()), default=0)
    return str(model_dir), size, latest


def _exit_reason(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"its process was killed by signal {os.WTERMSIG(status)}"
    return f"its process exited with status {os.waitstatus_to_exitcode(status)}"


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies, so nothing outlives the server."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run_manager(
    config: ServerConfig,
    run_dir: Path,
    control: socket.socket,
    server_pid: int,
    shared_packages: frozenset[str] = frozenset(),
) -> int:
    _die_with_parent()
    Manager(config, run_dir, control, server_pid, shared_packages).serve_forever()
    return 0
