"""Constants and helpers shared by the AWS tests (conftest.py is not imported by name)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROLE = "arn:aws:iam::123456789012:role/byoc-test-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc-toolkit:test"


ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "build_and_push.sh"
ACCOUNT = "123456789012"
ECR_PASSWORD = f"{ACCOUNT}-auth-token"  # what moto's GetAuthorizationToken hands out


def script_env(aws_env: dict[str, str], docker_config: Path, **extra: str) -> dict[str, str]:
    """The environment for build_and_push.sh: moto's endpoint, this venv's aws CLI, a private
    DOCKER_CONFIG (the login never touches the user's), nothing from the caller's AWS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BYOC_REGISTRY", "BASE_IMAGE"))}
    env.update(aws_env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DOCKER_CONFIG"] = str(docker_config)
    env.update(extra)
    return env


def run_script(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def pushed(output: str) -> dict[str, str]:
    """{"image": ..., "digest": ..., "pinned": ...} from build_and_push.sh's stdout."""
    found = dict(re.findall(r"^(image|digest|pinned): (\S+)$", output, flags=re.MULTILINE))
    assert set(found) == {"image", "digest", "pinned"}, output
    return found
