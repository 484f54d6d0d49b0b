"""One model's process: it loads the model and serves it on its own Unix socket, with its workers.

Forked by the manager (container.multimodel.manager) for each POST /models, it is the single-model
server on a socket instead of a port: the same start-up (container.serving.startup.build_model:
requirements, the user module, the handler chosen from this model's directory, its functions), the
same lifecycle (the model loaded once here and shared by the workers forked after it, where the
handler allows it; else loaded by each worker), the same workers, invoker, batching and pipeline.

Because each model has a process of its own, its user module is imported there alone: two models
may ship different code under the same module name. Its requirements go to an overlay of their own
(container.multimodel.requirements). It tells the manager through a pipe when the model has loaded
or why it has not: one JSON line, {"event": "loaded" | "failed", ...}.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from container.config import ServerConfig
from container.errors import StartupError
from container.inference.lifecycle import ModelState
from container.multimodel import memory, requirements
from container.serving import gunicorn, startup
from container.serving.app import create_app
from container.telemetry import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostPlan:
    """What the manager asks of a new model process."""

    name: str
    model_dir: Path
    socket_path: Path  # where it listens; the manager renames it into place once the model loaded
    workers: int
    overlays: Path  # where requirements overlays are kept
    # The packages the manager imported ahead of the models (the handlers' frameworks): of these,
    # the modules this model's load imported besides are reported, for the manager to import too.
    shared_packages: frozenset[str] = frozenset()


def run_host(config: ServerConfig, plan: HostPlan, status_fd: int) -> int:
    """Load the model and serve it until SIGTERM; the exit status. Runs in the forked child."""
    reporter = Reporter(status_fd, plan.shared_packages)
    model_config = dataclasses.replace(
        config,
        model_dir=plan.model_dir,
        code_dir=plan.model_dir / "code",
        workers=plan.workers,
        multi_model=False,
        # A model that cannot load ends its process: the manager reports why to POST /models.
        exit_on_load_failure=True,
    )
    log.info("model %s: loading from %s with %d worker(s)", plan.name, plan.model_dir, plan.workers)
    try:
        lifecycle, invoker = startup.build_model(
            model_config,
            install=lambda code_dir: requirements.install_for_model(code_dir, plan.overlays),
            model_label=plan.name,
        )
    except StartupError as exc:
        log.error("model %s cannot load: %s", plan.name, exc)
        reporter.failed(str(exc), out_of_memory=False)
        return 1
    except MemoryError:
        reporter.failed("ran out of memory while importing its code", out_of_memory=True)
        return 1
    handler = lifecycle.handler.spec.name
    lifecycle.on_settled = lambda state, reason: reporter.settled(state, reason, lifecycle, handler)
    listener = bind_unix(plan.socket_path)
    app = create_app(lifecycle, invoker)
    if lifecycle.loads_before_fork:
        lifecycle.load_before_fork()
        if lifecycle.state is ModelState.FAILED:
            return 1
        # Keep the garbage collector from touching the model's objects in every worker (which
        # would copy the pages they share with this process).
        gc.freeze()
        reporter.loaded(lifecycle, handler, shared=True)
    options = gunicorn.gunicorn_options(model_config, listener.detach())
    options["proc_name"] = f"byoc-model-{plan.name[:40]}"
    options["child_exit"] = lambda arbiter, worker: metrics.worker_exited(worker.pid)
    return gunicorn.run_gunicorn(gunicorn.GunicornServer(app, options))


def bind_unix(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path.unlink(missing_ok=True)
    listener.bind(str(path))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


class Reporter:
    """The model's news to the manager, once: loaded, or failed and why."""

    def __init__(self, fd: int, shared_packages: frozenset[str] = frozenset()) -> None:
        self.fd = fd
        self.sent = False
        self.shared_packages = shared_packages
        self.modules_at_start = set(sys.modules)

    def loaded(self, lifecycle: Any, handler: str, shared: bool) -> None:
        # Measured here, before any worker is forked: once they are, the model's pages are shared
        # with them and no longer this process's own.
        own = memory.process_memory(os.getpid())
        self._send(
            {
                "event": "loaded",
                "memory": {"rss": own.rss, "pss": own.pss, "uss": own.uss},
                "handler": handler,
                "load_seconds": lifecycle.load_seconds,
                "shared": shared,  # one copy in this process, shared by the workers
                "modules": self._new_shared_modules(),
            }
        )

    def failed(self, reason: str, out_of_memory: bool) -> None:
        self._send({"event": "failed", "reason": reason, "out_of_memory": out_of_memory})

    def settled(self, state: ModelState, reason: str, lifecycle: Any, handler: str) -> None:
        """From the lifecycle: a worker's own load (or the shared one) ended."""
        if state is ModelState.READY:
            self.loaded(lifecycle, handler, shared=lifecycle.loaded_before_fork)
        elif state is ModelState.FAILED:
            self.failed(reason, out_of_memory=lifecycle.out_of_memory)

    def _new_shared_modules(self) -> list[str]:
        """Modules of the shared packages the load imported (unpickling a model imports its classes')."""
        return sorted(
            name
            for name in set(sys.modules) - self.modules_at_start
            if name.partition(".")[0] in self.shared_packages
        )

    def _send(self, event: dict[str, Any]) -> None:
        if self.sent:
            return  # the first worker's news is the model's; the others' are the same
        self.sent = True
        try:
            os.write(self.fd, orjson.dumps(event) + b"\n")
        except OSError:
            log.warning("the manager is gone: cannot report %s", event.get("event"))
