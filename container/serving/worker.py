"""The gunicorn worker class: uvicorn's, speaking HTTP through our protocol (container.serving.protocol).

The protocol coalesces each response's writes into one send(), answers GET /ping itself the moment
its headers are read, and holds every connection to the limits in the server's config (header
section, read deadline, open connections); one ConnectionGuard per worker enforces them.
"""

from __future__ import annotations

import functools
import sys

from uvicorn_worker import UvicornWorker

from container.serving.protocol import ConnectionGuard, ConnectionLimits, HttpProtocol

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). A worker's
# event loop shares the GIL with its model thread (and decoding threads), which hold it through
# stretches of Python code: every time the loop woke for a request or a /ping it waited up to the
# full interval. 1 ms keeps that wait short at a small cost in thread switches.
SWITCH_INTERVAL_SECONDS = 0.001


class Worker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "auto",
        "http": HttpProtocol,
        # The app reads no client address or scheme: no need to rewrite them from X-Forwarded-*.
        "proxy_headers": False,
    }

    async def _serve(self) -> None:
        # uvicorn closes the listening sockets it is given when the worker stops. Given gunicorn's
        # socket wrappers, whose own close() then finds the descriptor gone, every worker logged
        # "Error while closing socket [Errno 9] Bad file descriptor" on shutdown; the plain
        # sockets inside them close once, quietly. The arbiter keeps its own copies.
        self.sockets = [getattr(sock, "sock", sock) for sock in self.sockets]
        # The app (loaded before the fork) carries the server's config; the limits are this worker's.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        app = self.wsgi
        guard = ConnectionGuard(ConnectionLimits.for_worker(app.config), ping=app.ping)
        self.config.http = functools.partial(HttpProtocol, guard=guard)
        await super()._serve()
