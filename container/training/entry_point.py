"""Which command runs the user's entry point. Pure, but for looking at the code directory.

The kinds are those of AWS's training toolkit (src/sagemaker_training/_entry_point_type.py and
process.ProcessRunner._create_command): a name ending in .sh is a shell command; a code directory
with setup.py is a Python package, installed and then run with `python -m`; another .py is a
Python program run as `python train.py ARGS`; anything else is an executable run as `./name ARGS`.
Python programs and packages run under container.training.launch, in the same process, so that an
exception's message reaches the failure file.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PROGRAM = "program"
PACKAGE = "package"
SHELL = "shell"
EXECUTABLE = "executable"


class EntryPointError(ValueError):
    """No entry point was named, or it is not in the code directory."""


@dataclass(frozen=True)
class EntryPoint:
    kind: str
    name: str  # as given: train.py
    path: Path  # in the code directory

    @property
    def is_python(self) -> bool:
        return self.kind in (PROGRAM, PACKAGE)


def require(program: str | None) -> str:
    """`program`, or EntryPointError saying how to name one."""
    if not program:
        raise EntryPointError(
            "no entry point: set the sagemaker_program hyperparameter (the SDK's entry_point) or "
            "SAGEMAKER_PROGRAM to the script to run, such as train.py"
        )
    return program


def resolve(program: str | None, code_dir: Path) -> EntryPoint:
    """The entry point `program` in `code_dir`; EntryPointError when it cannot be run."""
    program = require(program)
    relative = PurePosixPath(program)
    if relative.is_absolute() or ".." in relative.parts:
        raise EntryPointError(f"the entry point {program!r} must be a path inside the code directory")
    path = code_dir / relative
    if (code_dir / "setup.py").is_file() and program.endswith(".py"):
        return EntryPoint(PACKAGE, program, path)
    if not path.is_file():
        names = sorted(p.name for p in code_dir.iterdir())[:20] if code_dir.is_dir() else []
        raise EntryPointError(
            f"the entry point {program} is not in the code directory {code_dir} "
            f"(it holds: {', '.join(names) or 'nothing'})"
        )
    if program.endswith(".sh"):
        return EntryPoint(SHELL, program, path)
    if program.endswith(".py"):
        return EntryPoint(PROGRAM, program, path)
    if not os.access(path, os.X_OK):
        raise EntryPointError(
            f"the entry point {program} is not executable: make it so (chmod +x), or name a .py or .sh file"
        )
    return EntryPoint(EXECUTABLE, program, path)


def command(entry: EntryPoint, args: list[str], reason_file: Path) -> list[str]:
    """The command line that runs `entry` with `args` (the code directory is its working directory)."""
    launch = [sys.executable, "-m", "container.training.launch", str(reason_file)]
    if entry.kind == PROGRAM:
        return [*launch, entry.name, *args]
    if entry.kind == PACKAGE:
        module = entry.name[:-3].replace("/", ".")
        return [*launch, "--module", module, *args]
    if entry.kind == SHELL:
        return ["/bin/sh", entry.name, *args]
    return [str(entry.path), *args]
