"""`serve`: start the model server (gunicorn with uvicorn workers) the way SageMaker runs it.

Start-up happens once, in the main process, before any worker is forked: settings are validated,
the listening socket is bound, the code is fetched when SAGEMAKER_SUBMIT_DIRECTORY names an S3
archive (/ping answers 503 meanwhile, and with the reason if that fails), code/requirements.txt is
installed, the user module is imported, the handler is chosen (and the log says which, and why) and
its functions resolved. Any other failure there stops the server with a message, and a non-zero
exit, instead of a half-working server.

Where the model's lifecycle says so
(container.inference.lifecycle), the model is then loaded in this process while /ping answers 503
(container.serving.listener), so the workers forked after it share the model's memory instead of
loading a copy each; otherwise each worker loads its own, behind the same honest /ping.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from gunicorn.app.base import BaseApplication

from container.archives import code_source
from container.archives.code_source import CodeFetchError
from container.config import ConfigError, ServerConfig, load_config
from container.contract import functions, registry, user_code
from container.errors import StartupError
from container.inference.invoker import Invoker
from container.inference.lifecycle import ModelLifecycle, ModelState
from container.inference.readiness import ReadinessBoard
from container.serving.app import ServerApp, create_app
from container.serving.listener import LoadingResponder, bind_listener, serve_unavailable, unavailable_app
from container.serving.protocol import raise_open_file_limit
from container.telemetry import metrics
from container.telemetry.logs import configure_logging

log = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_SECONDS = 25  # SageMaker sends SIGKILL 30 s after SIGTERM
KEEPALIVE_SECONDS = 75
# gunicorn's exit status when a worker could not boot (here: its model failed to load, with
# exit_on_load_failure set).
WORKER_BOOT_ERROR = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="serve",
        description="Start the model server, as SageMaker does with `docker run IMAGE serve`: the model "
        "from BYOC_MODEL_DIR (default /opt/ml/model), settings from SAGEMAKER_* and BYOC_* variables "
        "(docs/environment.md). /ping answers 200 once the model is loaded and warmed up, 503 with "
        "the reason before that or after a failed load.",
    )
    parser.add_argument(
        "mode",
        nargs="?",
        choices=["serve", "train"],
        default="serve",
        help="what SageMaker asks of the image: serve (the default) or train",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.mode == "train":
        # `serve train` is what an image whose entry is `serve` gets from SageMaker's training job.
        from container.training.trainer import main as train

        return train([])
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    return run(config)


def run(config: ServerConfig, on_exit: Callable[[], None] | None = None) -> int:
    """Serve until stopped; the exit status. `on_exit` runs once, in this process, at the end."""
    finish = on_exit or (lambda: None)
    configure_logging(config.log_level)
    # Every connection holds a file descriptor; the soft limit is often far below the hard one.
    raise_open_file_limit()
    # Before anything imports prometheus_client (user code may): it picks its mode at import.
    metrics_dir = metrics.prepare_multiprocess_dir()
    if config.multi_model:
        from container.multimodel.server import run_multi_model

        return run_multi_model(config, metrics_dir, finish)
    board = ReadinessBoard.create()
    finish = _also(board.remove, finish)
    try:
        listener = bind_listener(config.bind_host, config.port)
    except OSError as exc:
        log.error(
            "cannot start: cannot listen on %s:%d: %s", config.bind_host, config.port, exc.strerror or exc
        )
        finish()
        return 1
    if config.code_source is not None:
        try:
            config, finish = fetch_code(config, listener, finish)
        except CodeFetchError as exc:
            log.error("cannot start: %s", exc)
            if not config.exit_on_load_failure:
                # As for a model that fails to load: the container stays, and /ping says why.
                log.error("/ping answers 503 with this reason until the container is stopped")
                serve_unavailable(listener, "code_unavailable", str(exc))
            listener.close()
            finish()
            return 1
    try:
        lifecycle, invoker = build_model(config, board)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        listener.close()
        finish()
        return 1
    app = create_app(lifecycle, invoker)
    if lifecycle.loads_before_fork:
        log.info("loading the model once, before forking %d worker(s)", config.workers)
        with LoadingResponder(app, listener):
            lifecycle.load_before_fork()
        if config.exit_on_load_failure and lifecycle.state is ModelState.FAILED:
            log.error("cannot start: the model failed to load: %s", lifecycle.failure)
            listener.close()
            finish()
            return 1
        # Keep the garbage collector from touching the model's objects in every worker, which
        # would copy the pages they share with this process.
        gc.freeze()
    log.info(
        "serving on port %d (address %s) with %d worker(s)%s; model dir %s",
        config.port,
        config.bind_host,
        config.workers,
        ", batching" if invoker.policy.enabled else "",
        config.model_dir,
    )
    options = gunicorn_options(config, listener.detach())

    def child_exit(arbiter: object, worker: Any) -> None:
        metrics.worker_exited(worker.pid)
        board.mark_gone(worker.pid)

    options["child_exit"] = child_exit

    def stopped(arbiter: object) -> None:
        metrics.remove_multiprocess_dir(metrics_dir)
        finish()

    options["on_exit"] = stopped
    return run_gunicorn(GunicornServer(app, options))


def run_gunicorn(server: GunicornServer) -> int:
    # gunicorn's workers are forked from inside run() and leave through SystemExit, which comes up
    # through this frame in each of them: only the process that started the server turns it into
    # an exit status; a worker's exit is passed on untouched.
    arbiter_pid = os.getpid()
    try:
        server.run()
    except SystemExit as exit_:
        if os.getpid() != arbiter_pid:
            raise
        if exit_.code == WORKER_BOOT_ERROR:
            log.error("cannot start: a worker could not load the model (see above)")
            return 1
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


def _also(first: Callable[[], None], then: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        then()

    return both


def fetch_code(
    config: ServerConfig, listener: socket.socket, finish: Callable[[], None]
) -> tuple[ServerConfig, Callable[[], None]]:
    """Fetch SAGEMAKER_SUBMIT_DIRECTORY's code into a private directory while /ping answers 503.

    The config with code_dir set to it, and an on_exit that also removes it. CodeFetchError names
    the URI and the cause.
    """
    assert config.code_source is not None
    uri = config.code_source.uri
    workdir = Path(tempfile.mkdtemp(prefix="byoc-serve-code-"))
    try:
        with LoadingResponder(unavailable_app("code_loading", f"fetching the code from {uri}"), listener):
            code_dir = code_source.fetch(config.code_source, config.archive_limits, workdir=workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    log.info("code from %s in %s", uri, code_dir)

    def finish_and_remove() -> None:
        shutil.rmtree(workdir, ignore_errors=True)
        finish()

    return dataclasses.replace(config, code_dir=code_dir), finish_and_remove


def build_model(
    config: ServerConfig,
    board: ReadinessBoard | None = None,
    *,
    install: Callable[[Path], object] = user_code.install_requirements,
    model_label: str | None = None,
) -> tuple[ModelLifecycle, Invoker]:
    """Install requirements, import the user module, choose and resolve the handler: all before a load.

    Multi-model mode installs a model's requirements its own way (`install`) and labels its
    metrics with the model's name (`model_label`).
    """
    install(config.code_dir)
    return assemble_model(config, user_code.import_user_module(config), board, model_label=model_label)


def assemble_model(
    config: ServerConfig,
    user_module: ModuleType | None,
    board: ReadinessBoard | None = None,
    *,
    model_label: str | None = None,
) -> tuple[ModelLifecycle, Invoker]:
    """Choose the handler, resolve the functions, and build the model's lifecycle and invoker."""
    choice = registry.choose(config, user_model_fn=callable(getattr(user_module, "model_fn", None)))
    log.info("handler: %s (%s)", choice.name, choice.reason)
    try:
        spec = registry.load_spec(choice.name)
        registry.require_packages(spec)
    except StartupError as exc:
        if choice.explicit:
            raise
        raise StartupError(f"{exc} (chosen because: {choice.reason})") from exc
    try:
        config = config.for_handler(choice.name, spec.default_accept, spec.settings)
    except ConfigError as exc:
        raise StartupError(str(exc)) from exc
    resolved = functions.resolve(user_module, spec)
    log.info("handler functions: %s", resolved.describe())
    model_metrics = metrics.Metrics(model_label)
    lifecycle = ModelLifecycle(config, resolved, model_metrics, board)
    return lifecycle, Invoker(config, resolved, lifecycle, model_metrics)


def gunicorn_options(config: ServerConfig, listener_fd: int) -> dict[str, Any]:
    return {
        "bind": f"fd://{listener_fd}",  # the socket bound before the model loaded
        "workers": config.workers,
        "worker_class": "container.serving.worker.Worker",
        # The worker heartbeat comes from the event loop, which model code never blocks; only a
        # model load that holds the GIL for minutes could delay it, so allow the start-up time.
        "timeout": int(config.startup_timeout_seconds),
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "keepalive": KEEPALIVE_SECONDS,
        "preload_app": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": _gunicorn_level(config.log_level),
        "proc_name": "byoc-serve",
        # gunicorn 23+ opens a control socket in $HOME; a model server has no use for one.
        "control_socket_disable": True,
    }


def _gunicorn_level(level: int) -> str:
    for threshold, name in ((40, "error"), (30, "warning"), (20, "info")):
        if level >= threshold:
            return name
    return "debug"


class GunicornServer(BaseApplication):
    """gunicorn, configured from code rather than from its command line."""

    def __init__(self, app: ServerApp, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> ServerApp:
        return self._app


if __name__ == "__main__":
    sys.exit(main())
