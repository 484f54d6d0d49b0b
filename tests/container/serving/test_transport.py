"""container.serving.transport.CoalescingTransport: one send per loop turn, nothing lost or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

from container.serving.transport import CoalescingTransport


class RecordingTransport:
    """Stands in for the socket transport: records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def write_eof(self) -> None:
        self.events.append("eof")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def get_write_buffer_size(self) -> int:
        return 7

    def pause_reading(self) -> None:
        self.events.append("pause_reading")


def _run(scenario: Any) -> RecordingTransport:
    real = RecordingTransport()

    async def main() -> None:
        await scenario(CoalescingTransport(real, asyncio.get_running_loop()), real)  # type: ignore[arg-type]

    asyncio.run(main())
    return real


def test_the_writes_of_one_loop_turn_reach_the_socket_as_one() -> None:
    async def scenario(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(bytearray(b"body"))
        transport.write(b"")
        assert real.writes == []  # held until the end of the turn
        assert transport.get_write_buffer_size() == 7 + 23
        await asyncio.sleep(0)
        transport.writelines([b"next", b" turn"])
        await asyncio.sleep(0)

    real = _run(scenario)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next turn"]


def test_close_and_write_eof_send_what_was_written_first() -> None:
    async def scenario(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"last words")
        transport.write_eof()
        transport.write(b"after eof is still held")
        transport.close()
        await asyncio.sleep(0)

    real = _run(scenario)
    assert real.events == ["write", "eof", "write", "close"]
    assert real.writes == [b"last words", b"after eof is still held"]


def test_abort_drops_what_was_held() -> None:
    async def scenario(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0)

    real = _run(scenario)
    assert real.writes == [] and real.events == ["abort"]


def test_nothing_is_written_to_a_transport_that_is_already_closing() -> None:
    async def scenario(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.write(b"too late")
        real.closing = True  # the peer went away during the turn
        await asyncio.sleep(0)

    assert _run(scenario).writes == []


def test_everything_else_is_the_real_transports() -> None:
    async def scenario(transport: CoalescingTransport, real: RecordingTransport) -> None:
        transport.pause_reading()
        assert transport.is_closing() is False

    assert _run(scenario).events == ["pause_reading"]
