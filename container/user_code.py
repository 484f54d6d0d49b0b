"""Find, prepare and import the user's inference module (code/inference.py or SAGEMAKER_PROGRAM).

Runs once, in the server's main process, before any worker starts: requirements are installed once,
and an import error stops the server at start with the error in the log, instead of the silent
fall-back to default handlers that AWS's toolkit does.
"""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from container.config import ServerConfig
from container.errors import StartupError

log = logging.getLogger(__name__)
PIP_OUTPUT_TAIL_LINES = 30


def install_requirements(code_dir: Path) -> bool:
    """pip-install code/requirements.txt when there is one; StartupError when pip fails."""
    requirements = code_dir / "requirements.txt"
    if not requirements.is_file():
        return False
    log.info("installing %s", requirements)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "-r",
        str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        log.debug("pip: %s", line)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        tail = "\n".join(output[-PIP_OUTPUT_TAIL_LINES:])
        raise StartupError(f"pip could not install {requirements} (exit status {result.returncode}):\n{tail}")
    log.info("installed %s", requirements)
    return True


def import_user_module(config: ServerConfig) -> ModuleType | None:
    """Import the user's module, or return None when there is none and none was asked for."""
    path = config.code_dir / config.program
    if not path.is_file():
        if config.program_is_explicit:
            raise StartupError(
                f"SAGEMAKER_PROGRAM={config.program!r}, but {path} does not exist" + _listing(config.code_dir)
            )
        log.info("no %s: serving with the %r handler alone", path, config.handler)
        return None
    # The code dir goes on sys.path so the module can import its neighbours (code/lib/...), and
    # under its own name so pickles that reference its classes ("inference.MyTransformer") load.
    code_dir = str(config.code_dir.resolve())
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    module_name = path.stem
    sys.modules.pop(module_name, None)
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        log.exception("the user module %s failed to import", path)
        raise StartupError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
    if Path(getattr(module, "__file__", "") or "").resolve() != path.resolve():
        raise StartupError(
            f"{path} could not be imported as {module_name!r}: that name is taken by "
            f"{getattr(module, '__file__', 'a built-in module')}; rename the file"
        )
    log.info("imported user module %s", path)
    return module


def _listing(directory: Path) -> str:
    if not directory.is_dir():
        return f" (there is no {directory} directory)"
    names = sorted(p.name for p in directory.iterdir())[:20]
    return f" ({directory} holds: {', '.join(names) or 'nothing'})"
