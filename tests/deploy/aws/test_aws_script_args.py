"""build_and_push.sh's decisions, with a stand-in `docker` that records its calls (no engine needed):
the platform on a non-amd64 host, build arguments and BASE_IMAGE passed through, the default tag,
the login host, and ECR's repository left alone when it exists. AWS is moto on loopback."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest
from aws_helpers import ECR_PASSWORD, pushed, run_script, script_env

FAKE_DOCKER = r"""#!/usr/bin/env bash
# Records each call (one line, arguments separated by |); reads the password on login.
set -euo pipefail
log="$FAKE_DOCKER_LOG"
if [ "$1" = "login" ]; then
    password="$(cat)"
    (IFS='|'; printf '%s|password=%s\n' "$*" "$password") >>"$log"
    exit 0
fi
(IFS='|'; printf '%s\n' "$*") >>"$log"
if [ "$1" = "image" ] && [ "$2" = "inspect" ]; then
    printf '%s@sha256:%064d\n' "${@: -1}" 7 | sed 's/:[^:@]*@/@/'
fi
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def fake_tools(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "docker", FAKE_DOCKER)
    _executable(bin_dir / "uname", '#!/bin/sh\n[ "${1:-}" = "-m" ] && echo aarch64 || echo Linux\n')
    return bin_dir, tmp_path / "docker.log"


def _env(aws, tmp_path: Path, fake_tools: tuple[Path, Path], **extra: str) -> dict[str, str]:
    bin_dir, log = fake_tools
    env = script_env(aws.env, tmp_path, FAKE_DOCKER_LOG=str(log), **extra)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return env


def test_arm_host_builds_for_amd64_with_the_build_args_and_the_ecr_login(aws, tmp_path, fake_tools) -> None:
    env = _env(aws, tmp_path, fake_tools, BASE_IMAGE="my-base:1")
    result = run_script(
        "--build-arg", "PIP_INDEX_URL=https://pypi.example/simple", "my-model", "v7", env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    calls = [line.split("|") for line in fake_tools[1].read_text().splitlines()]
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    login = next(call for call in calls if call[0] == "login")
    assert login == ["login", "--username", "AWS", "--password-stdin", host, f"password={ECR_PASSWORD}"]
    build = next(call for call in calls if call[0] == "build")
    assert build[build.index("--platform") + 1] == "linux/amd64"
    assert "BASE_IMAGE=my-base:1" in build and "PIP_INDEX_URL=https://pypi.example/simple" in build
    assert f"{host}/my-model:v7" in build and f"{host}/my-model:latest" in build
    pushes = [call[1] for call in calls if call[0] == "push"]
    assert pushes == [f"{host}/my-model:v7", f"{host}/my-model:latest"]
    out = pushed(result.stdout)
    assert out["image"] == f"{host}/my-model:v7"
    assert out["digest"] == "sha256:" + "0" * 63 + "7"
    assert "building for linux/amd64" in result.stderr


def test_explicit_region_and_existing_repository(aws, tmp_path, fake_tools) -> None:
    ecr = boto3.client("ecr", region_name="eu-west-1")
    ecr.create_repository(repositoryName="team/model")
    env = _env(aws, tmp_path, fake_tools)
    result = run_script(
        "--region",
        "eu-west-1",
        "--platform",
        "linux/arm64",
        "--no-latest",
        "team/model",
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "region eu-west-1 (from --region)" in result.stderr
    assert "ECR repository team/model exists" in result.stderr
    calls = [line.split("|") for line in fake_tools[1].read_text().splitlines()]
    build = next(call for call in calls if call[0] == "build")
    assert build[build.index("--platform") + 1] == "linux/arm64"
    assert not any(part.endswith(":latest") for part in build)
    # the default tag: the git commit of the checkout (-dirty when it has uncommitted changes)
    tag = pushed(result.stdout)["image"].rsplit(":", 1)[1]
    assert len(tag.removesuffix("-dirty")) == 12
    assert len(boto3.client("ecr", region_name="eu-west-1").describe_repositories()["repositories"]) == 1
