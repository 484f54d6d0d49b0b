"""The runtime's ASGI app driven in this process: the same objects a worker builds, no server around them.

For the fast, precise cases of the request path (statuses, bodies, headers, negotiation, batching
decisions); what needs a real server (gunicorn, forking, signals, sockets) is tested with real
`serve` processes (server_helpers.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx

from container.config import ServerConfig, load_config
from container.inference.invoker import Invoker
from container.inference.lifecycle import ModelLifecycle
from container.serving.app import ServerApp, create_app
from container.serving.startup import assemble_model


@dataclass
class InProcessServer:
    config: ServerConfig
    lifecycle: ModelLifecycle
    invoker: Invoker
    app: ServerApp
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def in_process_server(
    model_dir: Path,
    *,
    user_module: ModuleType | None = None,
    env: Mapping[str, str] | None = None,
    wait_for_load: bool = True,
) -> AsyncIterator[InProcessServer]:
    """A worker's app around `model_dir` (and a user module), its model loaded as a worker loads it."""
    config = load_config({"BYOC_MODEL_DIR": str(model_dir), **(env or {})})
    # What `serve` builds, from the user module given here instead of one imported from disk; the
    # metrics have their own registry, as no multiprocess directory is set in this process.
    lifecycle, invoker = assemble_model(config, user_module)
    app = create_app(lifecycle, invoker)
    if lifecycle.loads_before_fork:
        lifecycle.load_before_fork()
    loading = await lifecycle.start_worker(invoker.start_runner())
    if loading is not None and wait_for_load:
        await loading
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
            yield InProcessServer(config, lifecycle, invoker, app, client)
    finally:
        if loading is not None:
            loading.cancel()
        invoker.stop()
