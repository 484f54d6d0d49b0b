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
import gc
import logging
import sys
from collections.abc import Callable
from typing import Any

from container.archives.code_source import CodeFetchError
from container.config import ConfigError, ServerConfig, load_config
from container.errors import StartupError
from container.inference.lifecycle import ModelState
from container.inference.readiness import ReadinessBoard
from container.serving.app import create_app
from container.serving.gunicorn import GunicornServer, gunicorn_options, run_gunicorn
from container.serving.listener import LoadingResponder, bind_listener, serve_unavailable
from container.serving.protocol import raise_open_file_limit
from container.serving.startup import build_model, fetch_code
from container.telemetry import metrics
from container.telemetry.logs import configure_logging

log = logging.getLogger(__name__)


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


def _also(first: Callable[[], None], then: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        then()

    return both


if __name__ == "__main__":
    sys.exit(main())
