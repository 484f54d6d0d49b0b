"""`serve` in multi-model mode (SAGEMAKER_MULTI_MODEL=true): the manager, then the front workers.

    serve (gunicorn's arbiter, PID 1 in the container)
     |- the model manager          forked first; forks one process per loaded model
     |   |- model a's process      the model, loaded once; its workers forked after (shared memory)
     |   |   |- worker, worker ...
     |   |- model b's process ...
     |- front worker, ...          the HTTP port: /ping, /models..., invocations to the model's socket

The front workers (BYOC_FRONT_WORKERS, default one per CPU) hold no models. Each model's process
serves on a Unix socket in a private run directory; the manager's control socket is there too. On
SIGTERM gunicorn stops the front workers, then the manager stops every model's processes.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from container.config import ServerConfig
from container.contract import registry
from container.multimodel import manager
from container.multimodel.app import MultiModelApp
from container.serving import gunicorn
from container.serving.listener import bind_listener
from container.telemetry import metrics

log = logging.getLogger(__name__)
STOP_SECONDS = 25.0


def run_multi_model(config: ServerConfig, metrics_dir: Path | None, finish: Callable[[], None]) -> int:
    """Serve models loaded through POST /models until stopped; the exit status."""
    run_dir = Path(tempfile.mkdtemp(prefix="byoc-mme-"))
    shared_packages = _preimport()
    try:
        listener = bind_listener(config.bind_host, config.port)
    except OSError as exc:
        reason = exc.strerror or exc
        log.error("cannot start: cannot listen on %s:%d: %s", config.bind_host, config.port, reason)
        shutil.rmtree(run_dir, ignore_errors=True)
        finish()
        return 1
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.bind(str(run_dir / "control.sock"))
    control.listen(256)
    manager_pid = _fork_manager(config, run_dir, control, listener, shared_packages)
    control.close()
    app = MultiModelApp(config, run_dir, manager_pid)
    log.info(
        "serving several models (SAGEMAKER_MULTI_MODEL) on port %d (address %s): %d front worker(s), "
        "%d worker(s) per model",
        config.port,
        config.bind_host,
        config.front_workers,
        config.model_workers or 1,
    )
    front_config = _front_config(config)
    options = gunicorn.gunicorn_options(front_config, listener.detach())
    options["child_exit"] = lambda arbiter, worker: metrics.worker_exited(worker.pid)
    options["proc_name"] = "byoc-serve-multi-model"

    def stopped(arbiter: object) -> None:
        _stop_manager(manager_pid)
        shutil.rmtree(run_dir, ignore_errors=True)
        metrics.remove_multiprocess_dir(metrics_dir)
        finish()

    options["on_exit"] = stopped
    return gunicorn.run_gunicorn(gunicorn.GunicornServer(app, options))  # type: ignore[arg-type]


def _preimport() -> frozenset[str]:
    """The handlers and their frameworks, imported here once: every model's process is forked from
    the manager, so they share these pages instead of importing a copy each (and load faster).
    Returns the top-level names of the packages imported (numpy, sklearn, ...)."""
    imported: set[str] = set()
    specs, failures = registry.discover()
    for name, why in failures.items():
        log.warning("the %s handler is not available: %s", name, why)
    modules_of: dict[str, list[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(distribution.lower(), []).append(module)
    for spec in specs:
        for package in spec.packages:
            for module in modules_of.get(package.lower(), []):
                if module.isidentifier() and not module.startswith("_"):
                    try:
                        importlib.import_module(module)
                        imported.add(module)
                    except Exception as exc:  # a broken package is the model's problem, at its load
                        log.warning("could not import %s (%s) ahead of the models: %r", module, package, exc)

    return frozenset(imported)


def _front_config(config: ServerConfig) -> ServerConfig:
    import dataclasses

    return dataclasses.replace(config, workers=config.front_workers)


def _fork_manager(
    config: ServerConfig,
    run_dir: Path,
    control: socket.socket,
    listener: socket.socket,
    shared_packages: frozenset[str],
) -> int:
    server_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            listener.close()  # the port is the front's
            code = manager.run_manager(config, run_dir, control, server_pid, shared_packages)
        except BaseException:
            log.exception("the model manager failed")
        finally:
            os._exit(code)
    return pid


def _stop_manager(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # already reaped (gunicorn reaps every child it sees exit)
        if done:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
