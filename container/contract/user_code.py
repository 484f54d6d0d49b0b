"""Find, prepare and import the user's inference module (code/inference.py or SAGEMAKER_PROGRAM).

Runs once, in the server's main process, before any worker starts: requirements are installed once,
and an import error stops the server at start with the error in the log, instead of the silent
fall-back to default handlers that AWS's toolkit does.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from container.config import ServerConfig
from container.errors import StartupError

log = logging.getLogger(__name__)
PIP_OUTPUT_TAIL_LINES = 30
_CODE_DIRS: set[str] = set()  # code directories this process put on sys.path


def install_requirements(code_dir: Path, python: str | None = None) -> bool:
    """pip-install code/requirements.txt when there is one; StartupError when pip fails.

    `python`: the interpreter whose environment receives them (multi-model mode: a model's own
    overlay virtualenv); by default this one's.
    """
    requirements = code_dir / "requirements.txt"
    if not requirements.is_file():
        return False
    _pip(["-r", str(requirements)], str(requirements), cwd=code_dir, python=python)
    return True


def install_package(code_dir: Path) -> None:
    """pip-install the code directory itself (a setup.py project), with its requirements.txt if any."""
    extra = ["-r", "requirements.txt"] if (code_dir / "requirements.txt").is_file() else []
    _pip([".", *extra], f"the package in {code_dir}", cwd=code_dir)


def _pip(args: list[str], what: str, cwd: Path, python: str | None = None) -> None:
    log.info("installing %s", what)
    pip = [python or sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    command = [*pip, *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    for line in result.stdout.splitlines():
        log.debug("pip: %s", line)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        tail = "\n".join(output[-PIP_OUTPUT_TAIL_LINES:])
        raise StartupError(f"pip could not install {what} (exit status {result.returncode}):\n{tail}")
    log.info("installed %s", what)


def import_user_module(config: ServerConfig) -> ModuleType | None:
    """Import the user's module, or return None when there is none and none was asked for."""
    path = config.code_dir / config.program
    if not path.is_file():
        if config.program_is_explicit:
            raise StartupError(
                f"SAGEMAKER_PROGRAM={config.program!r}, but {path} does not exist" + _listing(config.code_dir)
            )
        log.info("no %s: serving with the handler's functions alone", path)
        return None
    module_name = path.stem
    # Imported under its own name (below), the module would replace any installed or standard module
    # of that name for the whole process: a code/json.py or code/xgboost.py breaks whatever imports
    # the real one, far from the cause. Refuse it here, before anything is replaced.
    _refuse_taken_name(module_name, path)
    # The code dir goes on sys.path so the module can import its neighbours (code/lib/...), and
    # under its own name so pickles that reference its classes ("inference.MyTransformer") load.
    code_dir = str(config.code_dir.resolve())
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
        _CODE_DIRS.add(code_dir)
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


def _refuse_taken_name(module_name: str, path: Path) -> None:
    """StartupError when `module_name` already names a module other than the file at `path`.

    Searched: the modules already imported, built-in modules, and sys.path less the code directories
    put there by this module (a user module imported earlier in this process is not a conflict) and
    the working directory (nothing is installed there; the code directory goes first and wins).
    """
    loaded = sys.modules.get(module_name)
    loaded_file = getattr(loaded, "__file__", None)
    if loaded is not None and not (loaded_file and str(Path(loaded_file).resolve().parent) in _CODE_DIRS):
        # Already imported, and not as a user module: the runtime's own packages (found by the
        # editable-install finder, not on sys.path) or anything imported before this point.
        origin = loaded_file or "a built-in module"
    elif module_name in sys.builtin_module_names:
        origin = "a built-in module"
    else:
        ignored = {*_CODE_DIRS, "", os.getcwd()}
        search = [entry for entry in sys.path if entry not in ignored]
        try:
            spec = importlib.machinery.PathFinder.find_spec(module_name, search)
        except (ImportError, ValueError):
            return
        if spec is None:
            return
        if spec.origin and spec.has_location and Path(spec.origin).resolve() == path.resolve():
            return  # the code dir was on sys.path already: this is the user's own file
        origin = spec.origin if spec.has_location else "a namespace package"
    raise StartupError(
        f"{path} cannot be imported as {module_name!r}: that name is taken by {origin}, which it "
        "would replace for the whole server; rename the file (and SAGEMAKER_PROGRAM)"
    )


def _listing(directory: Path) -> str:
    if not directory.is_dir():
        return f" (there is no {directory} directory)"
    names = sorted(p.name for p in directory.iterdir())[:20]
    return f" ({directory} holds: {', '.join(names) or 'nothing'})"
