"""A side venv with the SageMaker Python SDK (2.x) for test_sagemaker_sdk.py, built once per machine.

The SDK cannot join the dev venv (2.x downgrades `packaging` and adds pandas, fastapi and protobuf;
3.x is about 1 GB and has no `sagemaker.predictor`), so it gets a venv of its own under
$XDG_CACHE_HOME/byoc-tests/ (default ~/.cache/byoc-tests/), outside the repository, which later runs
reuse. A venv counts as ready only once its stamp file exists: the stamp is written after a
successful install and import check, inside a temporary directory that is then renamed into place,
so an aborted build leaves nothing that looks usable. A file lock makes concurrent runs wait for
one build instead of racing on the same directory.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The newest 2.x at the time of writing (2.257.7) installs and passes; 3.x has no sagemaker.predictor.
REQUIREMENT = "sagemaker>=2.200,<3"
STAMP = ".byoc-ready"
INSTALL_TIMEOUT_SECONDS = 900
# The modules sdk_predict.py imports; the last stdout line is the installed version.
IMPORT_CHECK = (
    "import sagemaker, sagemaker.predictor, sagemaker.serializers, sagemaker.deserializers; "
    "print(sagemaker.__version__)"
)


class ProvisionError(Exception):
    """Building the venv failed; `output` is what the failing command printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def venv_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    # Per minor version: the venv's python is a link to the interpreter that created it.
    return Path(cache) / "byoc-tests" / f"sagemaker-sdk-py{sys.version_info.major}.{sys.version_info.minor}"


def ready_python(venv: Path) -> Path | None:
    """The venv's python if a finished build for this REQUIREMENT is there, else None."""
    stamp = venv / STAMP
    python = venv / "bin" / "python"
    try:
        built_for = stamp.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    # exists() follows the link: False if the base interpreter has since been removed.
    return python if built_for == REQUIREMENT and python.exists() else None


def ensure_sdk_python(say: Callable[[str], None]) -> Path:
    """The python of a venv that has REQUIREMENT, building the venv first if needed."""
    venv = venv_dir()
    found = ready_python(venv)
    if found is not None:
        return found
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        lock_file = (venv.parent / f"{venv.name}.lock").open("w")
    except OSError as exc:
        raise ProvisionError(f"cannot use the cache directory {venv.parent}: {exc}") from exc
    with lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        found = ready_python(venv)  # another run may have built it while this one waited
        if found is not None:
            return found
        # Holding the lock, no build is in progress: temporary directories left are from aborted runs.
        for leftover in venv.parent.glob(f"{venv.name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        build = Path(tempfile.mkdtemp(prefix=f"{venv.name}.tmp-", dir=venv.parent))
        try:
            _build(build, venv, say)
            shutil.rmtree(venv, ignore_errors=True)  # a stale one: no stamp, or another requirement
            build.rename(venv)
        finally:
            shutil.rmtree(build, ignore_errors=True)  # nothing left there after a successful rename
    return venv / "bin" / "python"


def _build(build: Path, venv: Path, say: Callable[[str], None]) -> None:
    started = time.monotonic()
    say(f"creating a venv with {REQUIREMENT} at {venv} (once per machine; a minute or so)")
    _run([sys.executable, "-m", "venv", str(build)], "python -m venv")
    python = str(build / "bin" / "python")
    # Only `bin/python -m ...` is ever run from the venv: after the rename, the shebangs of its
    # console scripts (pip, ...) still name the temporary directory.
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    _run([*pip, REQUIREMENT], "pip install")
    version = _run([python, "-c", IMPORT_CHECK], "the import check").stdout.strip().splitlines()[-1]
    (build / STAMP).write_text(f"{REQUIREMENT}\nsagemaker=={version}\n")
    say(f"installed sagemaker {version} in {time.monotonic() - started:.0f} s")


def _run(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        raise ProvisionError(f"{what} did not finish in {INSTALL_TIMEOUT_SECONDS} s", output) from exc
    except OSError as exc:
        raise ProvisionError(f"{what} could not start: {exc}") from exc
    if result.returncode != 0:
        raise ProvisionError(f"{what} failed (exit {result.returncode})", result.stdout + result.stderr)
    return result


def _text(output: str | bytes | None) -> str:
    # TimeoutExpired carries bytes even when text=True was asked for.
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""
