"""The server's listening socket, bound before the model loads, and who answers on it meanwhile.

The socket is bound and listening from the first moments of start-up, so SageMaker's probes connect
at once. While the main process loads a model it will share with its workers, a small uvicorn
server on a duplicate of the socket answers every request with the runtime's own 503 "still
loading"; it stops, and its thread ends, before any worker is forked. gunicorn then takes the same
socket over (bind "fd://N"), so connections that arrive in between wait in the backlog instead of
being refused.

Before the model's turn, the code may have to be fetched (SAGEMAKER_SUBMIT_DIRECTORY as an S3 URI):
/ping answers 503 saying so meanwhile and, if the fetch fails, keeps answering 503 with the reason
(`serve_unavailable`) until the container is stopped.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import orjson
import uvicorn

STARTUP_TIMEOUT_SECONDS = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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


def unavailable_app(code: str, message: str) -> Callable[..., Any]:
    """An ASGI app that answers every request 503 with {"code": code, "message": message}."""
    body = orjson.dumps({"code": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_unavailable(listener: socket.socket, code: str, message: str) -> None:
    """Answer 503 with `message` on `listener` until SIGTERM or SIGINT; then return."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in STOP_SIGNALS}
    try:
        with LoadingResponder(unavailable_app(code, message), listener):
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
