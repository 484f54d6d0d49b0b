"""The server's listening socket, bound before the model loads, and who answers on it meanwhile.

The socket is bound and listening from the first moments of start-up, so SageMaker's probes connect
at once. While the main process loads a model it will share with its workers, a small uvicorn
server on a duplicate of the socket answers every request with the runtime's own 503 "still
loading"; it stops, and its thread ends, before any worker is forked. gunicorn then takes the same
socket over (bind "fd://N"), so connections that arrive in between wait in the backlog instead of
being refused.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

STARTUP_TIMEOUT_SECONDS = 10.0


def bind_listener(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket bound to (host, port) and listening; OSError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(backlog)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


class LoadingResponder:
    """Serve `app` on a duplicate of `listener` from a background thread, for a `with` block."""

    def __init__(self, app: Callable[..., Any], listener: socket.socket) -> None:
        self._socket = listener.dup()
        config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, loop="asyncio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="loading-responder", daemon=True
        )

    def __enter__(self) -> LoadingResponder:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        self._socket.close()  # the duplicate; the original keeps listening
