"""What the benchmark needs besides the project's virtualenv: wrk, Java, a virtualenv per baseline.

Everything is installed by name from the ordinary registries (apt-get, pip), logged to the console
and to the install log, and cached under bench/.cache: a virtualenv is rebuilt only when its
requirement list changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
VENVS = CACHE / "venvs"


def _project_version(name: str, fallback: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return fallback


# The model is pickled once, by the project's scikit-learn: every baseline gets the same version.
SKLEARN = f"scikit-learn=={_project_version('scikit-learn', '1.9.1')}"
XGBOOST = f"xgboost-cpu=={_project_version('xgboost-cpu', '3.0.5')}"

# One virtualenv per stack, pinned to the versions the results were measured with.
VENV_SPECS: dict[str, list[str]] = {
    # sagemaker-inference imports pkg_resources, which setuptools 81 removed.
    "mms": ["sagemaker-inference==1.10.1", "multi-model-server==1.1.11", "setuptools<81", SKLEARN],
    # bench/xgb_suite.py: the same toolkit with this project's xgboost, and pandas as AWS's XGBoost images
    # have it (xgboost looks for a DataFrame on every call, which is slow when pandas is absent).
    "mms-xgboost": [
        "sagemaker-inference==1.10.1",
        "multi-model-server==1.1.11",
        "setuptools<81",
        XGBOOST,
        "pandas",
    ],
    # gunicorn's gevent worker imports packaging, which gunicorn does not declare.
    "flask": ["flask==3.1.3", "gunicorn==27.0.1", "gevent==26.9.0", "packaging", SKLEARN],
    # MLServer 1.7.1 calls asyncio.get_event_loop() in its inference workers, which uvloop 0.22+
    # refuses outside a running loop: the uvloop of its release time.
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0", SKLEARN],
    "plot": ["matplotlib>=3.7"],
}


class Installer:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)

    def say(self, message: str) -> None:
        line = f"[bench setup {time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        with self.log_path.open("a") as log:
            log.write(line + "\n")

    def run(self, argv: list[str], **kwargs: object) -> None:
        self.say("$ " + " ".join(argv))
        with self.log_path.open("a") as log:
            subprocess.run(argv, check=True, stdout=log, stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]

    # --- system packages ---

    def ensure_apt(self, command: str, package: str) -> str:
        found = shutil.which(command)
        if found:
            return found
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise SystemExit(f"bench: {command} is missing; install the Debian package {package}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        self.say(f"{command} is missing: installing the Debian package {package}")
        self.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL)
        self.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        found = shutil.which(command)
        if not found:
            raise SystemExit(f"bench: installed {package}, but {command} is still not on PATH")
        return found

    def ensure_wrk(self) -> str:
        return self.ensure_apt("wrk", "wrk")

    def ensure_java(self) -> str:
        return self.ensure_apt("java", "openjdk-17-jre-headless")

    # --- virtualenvs ---

    def ensure_venv(self, name: str) -> Path:
        """The virtualenv for `name`, created and pip-installed if it is missing or out of date."""
        venv = VENVS / name
        python = venv / "bin" / "python"
        stamp = venv / ".bench-requirements.json"
        wanted = VENV_SPECS[name]
        if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
            return venv
        self.say(f"creating the {name} virtualenv at {venv}: {' '.join(wanted)}")
        base = getattr(sys, "_base_executable", None) or sys.executable
        self.run([base, "-m", "venv", "--clear", str(venv)])
        self.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        self.run([str(python), "-m", "pip", "install", "--quiet", *wanted])
        frozen = subprocess.run(
            [str(python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True
        ).stdout
        self.say(f"{name} virtualenv ready ({len(frozen.splitlines())} packages; pip freeze in the log)")
        with self.log_path.open("a") as log:
            log.write(frozen)
        stamp.write_text(json.dumps(wanted))
        return venv


def venv_versions(venv: Path, names: list[str]) -> dict[str, str]:
    """Installed versions of `names` in a virtualenv (for the results)."""
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *names], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout)
