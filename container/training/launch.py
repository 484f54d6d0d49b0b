"""Runs inside the training script's process: the program as `python train.py ARGS` would, and, when
it raises, the exception's type and message written to a reason file for the failure file.

    python -m container.training.launch REASON_FILE PROGRAM.py [ARGS...]
    python -m container.training.launch REASON_FILE --module MODULE [ARGS...]

The traceback goes to stderr (the job's log) exactly as Python prints it; the failure file gets one
line a person can act on ("ValueError: max_iter must be positive (train.py, line 12)").
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import traceback
from pathlib import Path

MAX_REASON_CHARS = 1024  # DescribeTrainingJob's FailureReason holds at most 1024 characters


def main(argv: list[str]) -> int:
    reason_file = Path(argv[0])
    if argv[1] == "--module":
        module, args = argv[2], argv[3:]
        sys.argv = [module, *args]
        sys.path.insert(0, os.getcwd())
        run = lambda: runpy.run_module(module, run_name="__main__", alter_sys=True)  # noqa: E731
        shown = module
    else:
        program, args = argv[1], argv[2:]
        sys.argv = [program, *args]
        # As `python train.py` does: the script's own directory first on sys.path.
        sys.path[0] = str(Path(program).resolve().parent)
        run = lambda: runpy.run_path(program, run_name="__main__")  # noqa: E731
        shown = program
    try:
        run()
    except SystemExit as exc:
        return _exit_status(exc, shown, reason_file)
    except BaseException as exc:  # KeyboardInterrupt (SIGINT) included: the script did not finish
        traceback.print_exc()
        sys.stderr.flush()
        _write(reason_file, describe(exc))
        return 1
    return 0


def describe(exc: BaseException) -> str:
    """'Type: message (file, line N)', the innermost frame of the user's code."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    where = _innermost_user_frame(exc)
    return f"{text} ({where})" if where else text


def _innermost_user_frame(exc: BaseException) -> str:
    cwd = os.getcwd() + os.sep
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(cwd) or not os.path.isabs(frame.filename):
            found = f"{os.path.relpath(frame.filename)}, line {frame.lineno}"
    return found


def _exit_status(exc: SystemExit, shown: str, reason_file: Path) -> int:
    code = exc.code
    if code is None or code == 0:
        return 0
    if isinstance(code, int):
        _write(reason_file, f"{shown} exited with status {code}")
        return code
    # sys.exit("message"): Python prints the message and exits 1.
    print(code, file=sys.stderr)
    _write(reason_file, str(code))
    return 1


def _write(path: Path, reason: str) -> None:
    # If it cannot be written, the exit status still says the script failed and the log says why.
    with contextlib.suppress(OSError):
        path.write_text(reason[:MAX_REASON_CHARS], encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
