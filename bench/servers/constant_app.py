"""A bare ASGI app answering a constant, served exactly as `serve` serves a model: the ceiling of the stack.

    BYOC_BIND_HOST=127.0.0.1 SAGEMAKER_BIND_TO_PORT=PORT python -m bench.servers.constant_app

The same settings (load_config), the same listening socket and gunicorn options
(container.serving.server), the same worker class and HTTP protocol; only the app differs: it reads
the request body whole, as the runtime does, and answers every POST with the same few bytes, and
/ping with 200 (which the worker's protocol answers itself, as for the model server). What the
runtime adds on top of this (routing, decoding, the model thread, the model, encoding, metrics, the
access log) is the difference to the byoc rows of the benchmark.
"""

from __future__ import annotations

import sys
from typing import Any

from container.config import ServerConfig, load_config
from container.serving.gunicorn import GunicornServer, gunicorn_options
from container.serving.listener import bind_listener

ANSWER = b'{"predictions":[0]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


class ConstantApp:
    """What the runtime's worker class asks of an app (its config, its /ping), and a constant answer."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    def ping(self) -> tuple[int, bytes]:
        return 200, b""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await answer(scope, receive, send)


async def answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # the body, whole, as /invocations reads it
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


def main() -> int:
    config = load_config()
    listener = bind_listener(config.bind_host, config.port)
    GunicornServer(ConstantApp(config), gunicorn_options(config, listener.detach())).run()  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
