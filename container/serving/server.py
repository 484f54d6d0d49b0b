"""`serve`: start the model server (gunicorn with uvicorn workers) the way SageMaker runs it.

Start-up happens once, in the main process, before any worker is forked: settings are validated,
code/requirements.txt is installed, the user module is imported and the handler resolved. Any
failure there stops the server with a message, and a non-zero exit, instead of a half-working
server.

The listening socket is bound right after that. Where the handler allows it, the model is then
loaded in this process while /ping answers 503 (container.serving.listener), so the workers forked after
it share the model's memory instead of loading a copy each; otherwise each worker loads its own,
behind the same honest /ping.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from container.config import ConfigError, ServerConfig, load_config
from container.contract import functions as handler
from container.contract import user_code
from container.errors import StartupError
from container.inference.service import InferenceService
from container.serving.app import ServerApp, create_app
from container.serving.listener import LoadingResponder, bind_listener
from container.telemetry import metrics
from container.telemetry.logs import configure_logging

log = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_SECONDS = 25  # SageMaker sends SIGKILL 30 s after SIGTERM
KEEPALIVE_SECONDS = 75
USAGE = "usage: serve [serve]   (starts the model server; SageMaker passes the 'serve' argument)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "train":
        print(
            "serve: this image serves models; it does not train them. Train elsewhere, package the "
            "model with `byoc package`, and deploy the image for inference.",
            file=sys.stderr,
        )
        return 2
    if args and args != ["serve"]:
        print(f"serve: unexpected arguments {' '.join(args)!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    return run(config)


def run(config: ServerConfig) -> int:
    configure_logging(config.log_level)
    # Before anything imports prometheus_client (user code may): it picks its mode at import.
    metrics_dir = metrics.prepare_multiprocess_dir()
    try:
        service = build_service(config)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 1
    host = os.environ.get("BYOC_BIND_HOST", "0.0.0.0")
    try:
        listener = bind_listener(host, config.port)
    except OSError as exc:
        log.error("cannot start: cannot listen on %s:%d: %s", host, config.port, exc.strerror or exc)
        return 1
    app = create_app(service)
    if service.can_preload:
        log.info("loading the model once, before forking %d worker(s)", config.workers)
        with LoadingResponder(app, listener):
            service.preload()
        # Keep the garbage collector from touching the model's objects in every worker, which
        # would copy the pages they share with this process.
        gc.freeze()
    log.info(
        "serving on port %d (address %s) with %d worker(s)%s; model dir %s",
        config.port,
        host,
        config.workers,
        ", batching" if service.batching else "",
        config.model_dir,
    )
    options = gunicorn_options(config, listener.detach())
    options["child_exit"] = lambda arbiter, worker: metrics.worker_exited(worker.pid)
    options["on_exit"] = lambda arbiter: metrics.remove_multiprocess_dir(metrics_dir)
    GunicornServer(app, options).run()
    return 0


def build_service(config: ServerConfig) -> InferenceService:
    user_code.install_requirements(config.code_dir)
    user_module = user_code.import_user_module(config)
    handler_module = handler.load_handler_module(config.handler)
    resolved = handler.resolve(user_module, handler_module)
    log.info("handler functions: %s", resolved.describe())
    return InferenceService(config, resolved)


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
