"""container.inference.readiness: which workers can serve, as seen by each of them."""

from __future__ import annotations

import os
import subprocess
import sys

from container.inference.readiness import ReadinessBoard


def test_a_worker_sees_the_others_that_are_ready_and_alive_but_not_itself(tmp_path):
    board = ReadinessBoard(tmp_path)
    me = os.getpid()
    board.mark_ready(me)
    assert not board.others_ready(me)  # its own mark does not count
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        board.mark_ready(sibling.pid)
        assert board.others_ready(me)
        board.mark_gone(sibling.pid)
        assert not board.others_ready(me)
        board.mark_ready(sibling.pid)
    finally:
        sibling.kill()
        sibling.wait()
    # Killed, and its mark not cleared yet: a dead worker serves nothing.
    assert not board.others_ready(me)


def test_create_and_remove(tmp_path):
    board = ReadinessBoard.create()
    assert board.directory.is_dir()
    board.remove()
    assert not board.directory.exists()
    assert not board.others_ready()  # a board that is gone says no one is ready
