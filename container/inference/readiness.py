"""Which of the server's workers can serve now: one file per ready worker in a directory they share.

/ping is answered by whichever worker accepts the connection. A worker that is loading its model
(one gunicorn started in place of a worker that crashed, where the model is not loaded before the
fork) would answer 503 while its siblings serve, and the platform would take the whole instance for
unhealthy. Each worker marks itself here once its model is ready; the main process clears a worker's
mark when it exits (even by SIGKILL); a loading worker asks whether another can serve.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


class ReadinessBoard:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def create(cls) -> ReadinessBoard:
        """A fresh board (in the main process, before the workers are forked)."""
        return cls(Path(tempfile.mkdtemp(prefix="byoc-ready-")))

    def mark_ready(self, pid: int | None = None) -> None:
        (self.directory / str(pid or os.getpid())).touch()

    def mark_gone(self, pid: int | None = None) -> None:
        (self.directory / str(pid or os.getpid())).unlink(missing_ok=True)

    def others_ready(self, pid: int | None = None) -> bool:
        """Whether a worker other than `pid` (this process) is ready and alive."""
        me = str(pid or os.getpid())
        try:
            names = os.listdir(self.directory)
        except OSError:
            return False
        return any(name != me and name.isdigit() and _alive(int(name)) for name in names)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    # A mark the main process has not cleared yet (the worker died a moment ago) must not count.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        # A zombie (exited, not yet reaped by the main process) is no worker.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True
