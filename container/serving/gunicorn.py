"""gunicorn as the servers here run it: configured from code, on a socket bound beforehand."""

from __future__ import annotations

import logging
import os
from typing import Any

from gunicorn.app.base import BaseApplication

from container.config import ServerConfig
from container.serving.app import ServerApp

log = logging.getLogger("container.serving.server")

GRACEFUL_TIMEOUT_SECONDS = 25  # SageMaker sends SIGKILL 30 s after SIGTERM
KEEPALIVE_SECONDS = 75
# gunicorn's exit status when a worker could not boot (here: its model failed to load, with
# exit_on_load_failure set).
WORKER_BOOT_ERROR = 3


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
