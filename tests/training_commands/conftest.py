"""Fixtures of the training command tests: moto with both extensions (endpoints, from tests/aws, and
training jobs, moto_training.py) on loopback, and `byoc` run in this process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# The endpoint extension and its server wrapper live with the AWS command tests: tests/aws, or
# tests/deploy/aws once the deploy restructure has landed.
sys.path.insert(0, str(next(p for p in (HERE.parent / "deploy" / "aws", HERE.parent / "aws") if p.is_dir())))
import moto_training  # noqa: E402
from moto_sagemaker import MotoServer  # noqa: E402


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    moto_training.install()
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A clean moto for one test, and the environment that points boto3 at it."""
    moto_server.reset()
    moto_training.reset()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in moto_server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BYOC_POLL_SECONDS", "0.1")
    yield moto_server
    moto_server.reset()
    moto_training.reset()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def byoc(capsys: pytest.CaptureFixture[str]):
    """Run `byoc ARGS...` in this process; its exit code, stdout and stderr."""
    from byoc import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
