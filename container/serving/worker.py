"""The gunicorn worker class: uvicorn's, speaking HTTP through our protocol (container.serving.protocol).

The protocol coalesces each response's writes into one send() and holds every connection to the
limits in the server's config (header section, read deadline, open connections); one
ConnectionGuard per worker enforces them.
"""

from __future__ import annotations

import functools

from uvicorn_worker import UvicornWorker

from container.serving.protocol import ConnectionGuard, ConnectionLimits, HttpProtocol


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
        guard = ConnectionGuard(ConnectionLimits.for_worker(self.wsgi.config))
        self.config.http = functools.partial(HttpProtocol, guard=guard)
        await super()._serve()
