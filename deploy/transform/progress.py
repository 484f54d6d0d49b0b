"""The progress line of a transform: records done, records/s, share of the input read, ETA.

The share and the ETA are by bytes: the input's size is known at the start, its record count only at
the end. `render` is pure; `Progress` draws it on a terminal (one line, redrawn at most 10 times a
second) or, in a log, prints a line every `log_every` seconds.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

BAR_WIDTH = 24


@dataclass(frozen=True)
class Snapshot:
    records: int
    done_bytes: int
    total_bytes: int
    elapsed: float
    files_done: int
    files_total: int
    failed: int  # files failed, and records marked under --keep-going
    marked: int

    @property
    def fraction(self) -> float:
        if self.total_bytes <= 0:
            return 1.0 if self.files_done >= self.files_total else 0.0
        return min(self.done_bytes / self.total_bytes, 1.0)

    @property
    def rate(self) -> float:
        return self.records / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if self.done_bytes <= 0 or self.elapsed <= 0:
            return None
        return max(self.total_bytes - self.done_bytes, 0) * self.elapsed / self.done_bytes


def render(snapshot: Snapshot, width: int = BAR_WIDTH) -> str:
    filled = round(snapshot.fraction * width)
    bar = "#" * filled + "." * (width - filled)
    eta = snapshot.eta
    parts = [
        f"[{bar}] {snapshot.fraction * 100:5.1f}%",
        f"{snapshot.records:,} records",
        f"{snapshot.rate:,.0f} records/s",
        f"ETA {duration(eta)}" if eta is not None else "ETA -",
        f"files {snapshot.files_done}/{snapshot.files_total}",
    ]
    if snapshot.failed:
        parts.append(f"{snapshot.failed} failed")
    if snapshot.marked:
        parts.append(f"{snapshot.marked} marked")
    return "  ".join(parts)


def duration(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    def __init__(
        self,
        total_bytes: int,
        files_total: int,
        stream: TextIO | None = None,
        log_every: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.total_bytes = total_bytes
        self.files_total = files_total
        self.log_every = log_every
        self.started = time.monotonic()
        self.records = 0
        self.done_bytes = 0
        self.files_done = 0
        self.failed = 0
        self.marked = 0
        self._last_draw = 0.0
        self._drawn = False

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.records,
            self.done_bytes,
            self.total_bytes,
            time.monotonic() - self.started,
            self.files_done,
            self.files_total,
            self.failed,
            self.marked,
        )

    def advance(self, records: int = 0, nbytes: int = 0) -> None:
        self.records += records
        self.done_bytes += nbytes
        self._maybe_draw()

    def file_done(self, failed: bool = False) -> None:
        self.files_done += 1
        self.failed += int(failed)
        self._maybe_draw(force=True)

    def mark(self, count: int = 1) -> None:
        self.marked += count

    def say(self, message: str) -> None:
        """A message on its own line, without garbling the progress line."""
        self._clear()
        print(message, file=self.stream, flush=True)
        self._maybe_draw(force=True)

    def finish(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self._draw()
            print(file=self.stream, flush=True)
            self._drawn = False

    def _maybe_draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        interval = 0.1 if self.tty else self.log_every
        if (force and self.tty) or now - self._last_draw >= interval:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        line = render(self.snapshot())
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
            self._drawn = True
        else:
            print(line, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
