"""Fixtures of the AWS tests: the extended moto server on loopback (endpoints: moto_sagemaker.py, training
jobs: moto_training.py), and `byoc` run in-process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import moto_training  # noqa: E402
from moto_sagemaker import MotoServer  # noqa: E402


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    moto_training.install()  # training jobs, beside moto_sagemaker's endpoints
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
    monkeypatch.setenv("BYOC_POLL_SECONDS", "0.2")
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


@pytest.fixture
def model_tarball(tmp_path: Path) -> Path:
    """A small gzipped tar standing in for model.tar.gz (moto never opens it)."""
    import io
    import tarfile

    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = b"not a real model"
        info = tarfile.TarInfo("model.joblib")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path
