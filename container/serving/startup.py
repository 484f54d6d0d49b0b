"""Start-up of one model, shared by `serve` and multi-model mode's per-model servers.

Fetch the code SAGEMAKER_SUBMIT_DIRECTORY names (while /ping says so), install its requirements,
import the user module, choose the handler and resolve its functions, and build the model's
lifecycle and invoker. Nothing here starts a server.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from container.archives import code_source
from container.config import ConfigError, ServerConfig
from container.contract import functions, registry, user_code
from container.errors import StartupError
from container.inference.invoker import Invoker
from container.inference.lifecycle import ModelLifecycle
from container.inference.readiness import ReadinessBoard
from container.serving.listener import LoadingResponder, unavailable_app
from container.telemetry import metrics

log = logging.getLogger("container.serving.server")  # the start-up's lines, under the server's name


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
