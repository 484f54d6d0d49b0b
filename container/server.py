"""`serve`: start the model server (gunicorn with uvicorn workers) the way SageMaker runs it.

Start-up happens once, in the main process, before any worker is forked: settings are validated,
code/requirements.txt is installed, the user module is imported and the handler resolved. Any
failure there stops the server with a message, and a non-zero exit, instead of a half-working
server. The model itself loads inside each worker, behind an honest /ping.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from starlette.applications import Starlette

from container import handler, user_code
from container.app import create_app
from container.config import ConfigError, ServerConfig, load_config
from container.errors import StartupError
from container.logs import configure_logging
from container.service import InferenceService

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
    try:
        app = build_app(config)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 1
    log.info(
        "serving on port %d with %d worker(s); model dir %s",
        config.port,
        config.workers,
        config.model_dir,
    )
    GunicornServer(app, gunicorn_options(config)).run()
    return 0


def build_app(config: ServerConfig) -> Starlette:
    user_code.install_requirements(config.code_dir)
    user_module = user_code.import_user_module(config)
    handler_module = handler.load_handler_module(config.handler)
    resolved = handler.resolve(user_module, handler_module)
    log.info("handler functions: %s", resolved.describe())
    return create_app(InferenceService(config, resolved))


def gunicorn_options(config: ServerConfig) -> dict[str, Any]:
    host = os.environ.get("BYOC_BIND_HOST", "0.0.0.0")
    return {
        "bind": f"[{host}]:{config.port}" if ":" in host else f"{host}:{config.port}",
        "workers": config.workers,
        "worker_class": "uvicorn_worker.UvicornWorker",
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

    def __init__(self, app: Starlette, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Starlette:
        return self._app


if __name__ == "__main__":
    sys.exit(main())
