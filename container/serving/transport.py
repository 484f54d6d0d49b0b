"""One write per response: the connection's writes held until the end of the event loop's turn.

uvicorn writes a response's head when the app sends `http.response.start` and its body when the app
sends `http.response.body`; on an idle connection each write is a send() of its own. For the small
answers a model server gives, those two system calls were a quarter of a worker's time under load.
Here the connection's writes are held until the end of the event loop's turn and sent together:
the head and body of a response, and the responses to pipelined requests, leave in one send().
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """A transport whose writes wait for the end of the loop's turn, then go out as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._held.append(bytes(data))
        if len(self._held) == 1:
            self._loop.call_soon(self.flush)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_now(self, data: bytes) -> None:
        """Write past the holding: for an answer that must not wait for the end of the loop's turn."""
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()  # what was written before close() is still sent, as with any transport
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(data) for data in self._held)

    def __getattr__(self, name: str) -> Any:
        # Everything else (reading, extra info, flow control) is the real transport's.
        return getattr(self._transport, name)
