"""Ctrl-C and SIGTERM while `byoc local` changes an endpoint: both clean up, never halfway."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


def sigterm_as_interrupt() -> None:
    """`kill` of a running up/update cleans up exactly as Ctrl-C does."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    # Ctrl-C cleans up even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Defer Ctrl-C while a teardown or a swap's bookkeeping runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
