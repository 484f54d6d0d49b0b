"""SAGEMAKER_SUBMIT_DIRECTORY as an S3 URI, a file:// URI, an archive or a directory: the code is fetched
at start, opened with the safe extraction, its requirements installed, and a failure names the URI
and the cause in the log and on /ping.

On a real endpoint the SageMaker Python SDK uploads sourcedir.tar.gz and sets
SAGEMAKER_SUBMIT_DIRECTORY to its S3 URI (sagemaker-python-sdk 2.x, sagemaker/model.py,
Model._upload_code and _script_mode_env_vars); S3 is moto's, reached as a container reaches S3, by
boto3 through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto_s3 import MotoS3, moto_s3, tar_gz
from server_helpers import CSV_ROWS, client, make_model_dir, serving, wait_until

from container.archives import code_source
from container.archives.code_source import CodeFetchError, CodeSourceError
from container.archives.extraction import Limits
from container.serving.server_process import ServerProcess, free_port

MODULE = textwrap.dedent(
    """
    import helper

    def predict_fn(data, model):
        return {"predictions": model.predict(data).tolist(), "module": helper.TAG}
    """
)
SOURCE = {"inference.py": MODULE, "helper.py": "TAG = 'from the source archive'\n"}


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


# --- parse (pure) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "kind", "where"),
    [
        ("s3://bucket/job/source/sourcedir.tar.gz", "s3", ("bucket", "job/source/sourcedir.tar.gz")),
        ("file:///opt/ml/code", "local", Path("/opt/ml/code")),
        ("file://localhost/tmp/code%20dir", "local", Path("/tmp/code dir")),
        ("/opt/ml/model/code", "local", Path("/opt/ml/model/code")),
        ("relative/dir", "local", Path("relative/dir")),
    ],
)
def test_parse(uri: str, kind: str, where: object) -> None:
    source = code_source.parse(uri)
    assert source.kind == kind
    assert ((source.bucket, source.key) if kind == "s3" else source.path) == where


@pytest.mark.parametrize(
    "uri",
    ["", "s3://bucket", "s3://bucket/", "s3://bucket/prefix/", "s3:///key", "https://x/y", "file://host/p"],
)
def test_parse_refuses(uri: str) -> None:
    with pytest.raises(CodeSourceError):
        code_source.parse(uri)


# --- fetch --------------------------------------------------------------------------------------


def test_a_directory_is_used_where_it_is(tmp_path: Path) -> None:
    assert code_source.fetch(code_source.parse(str(tmp_path)), Limits()) == tmp_path


def test_an_archive_is_extracted_into_a_private_directory(tmp_path: Path) -> None:
    archive = tmp_path / "sourcedir.tar.gz"
    archive.write_bytes(tar_gz(SOURCE))
    code_dir = code_source.fetch(code_source.parse(f"file://{archive}"), Limits(), workdir=tmp_path)
    assert sorted(p.name for p in code_dir.iterdir()) == ["helper.py", "inference.py"]
    assert stat.S_IMODE(code_dir.parent.stat().st_mode) == 0o700  # nobody else can swap the code


def test_an_unsafe_archive_is_refused_naming_the_uri(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_gz({"../escape.py": "x = 1\n"}))
    with pytest.raises(CodeFetchError) as caught:
        code_source.fetch(code_source.parse(str(archive)), Limits(), workdir=tmp_path)
    assert str(archive) in str(caught.value) and "outside the destination" in str(caught.value)
    assert not (tmp_path / "escape.py").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["evil.tar.gz"]  # nothing half-extracted is left


def test_from_s3(s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    uri = s3.put("code-bucket", "job/source/sourcedir.tar.gz", tar_gz(SOURCE))
    code_dir = code_source.fetch(code_source.parse(uri), Limits(), workdir=tmp_path)
    assert (code_dir / "helper.py").read_text() == SOURCE["helper.py"]
    assert [p.name for p in tmp_path.iterdir()] == [code_dir.parent.name]  # the download is removed


@pytest.mark.parametrize(
    ("key", "cause"),
    [("missing/sourcedir.tar.gz", "no such object"), ("big.tar.gz", "over the 100-byte limit")],
)
def test_s3_failures_name_the_uri_and_cause(
    s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, cause: str
) -> None:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    s3.put("code-bucket", "big.tar.gz", b"x" * 101)
    uri = f"s3://code-bucket/{key}"
    with pytest.raises(CodeFetchError) as caught:
        code_source.fetch(code_source.parse(uri), Limits(max_bytes=100), workdir=tmp_path)
    assert str(caught.value).startswith(f"cannot fetch the code from {uri}: ")
    assert cause in str(caught.value)


# --- serving ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_served_from_an_s3_sourcedir_with_its_requirements(
    s3: MotoS3, tmp_path: Path, model_file: Path
) -> None:
    # model.tar.gz without code/, as the SDK leaves it when it uploads sourcedir.tar.gz instead.
    model_dir = make_model_dir(tmp_path, model_file)
    uri = s3.put("code-bucket", "ep/sourcedir.tar.gz", tar_gz({**SOURCE, "requirements.txt": "numpy\n"}))
    env = {**s3.env, "SAGEMAKER_SUBMIT_DIRECTORY": uri, "SAGEMAKER_PROGRAM": "inference.py"}
    with serving(model_dir, env=env) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
        log = server.log_text()
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [0, 2], "module": "from the source archive"}
    assert f"downloading {uri}" in log and "installed" in log and "requirements.txt" in log


@pytest.mark.integration
def test_served_from_a_file_uri_archive(tmp_path: Path, model_file: Path) -> None:
    model_dir = make_model_dir(tmp_path, model_file)
    archive = tmp_path / "sourcedir.tar.gz"
    archive.write_bytes(tar_gz(SOURCE))
    env = {"SAGEMAKER_SUBMIT_DIRECTORY": f"file://{archive}"}
    with serving(model_dir, env=env) as server, client(server) as http:
        response = http.post("/invocations", content=CSV_ROWS, headers={"Content-Type": "text/csv"})
    assert response.json()["module"] == "from the source archive"


@pytest.mark.integration
def test_a_failed_fetch_keeps_ping_503_with_the_uri_and_cause(
    s3: MotoS3, tmp_path: Path, model_file: Path
) -> None:
    model_dir = make_model_dir(tmp_path, model_file)
    uri = "s3://code-bucket/nothing/here.tar.gz"
    s3.put("code-bucket", "placeholder", b"")
    server = ServerProcess(model_dir, env={**s3.env, "SAGEMAKER_SUBMIT_DIRECTORY": uri})
    with server:
        _, body = wait_until(
            lambda: (answer := server.ping())[0] == 503 and "cannot fetch" in answer[1] and answer,
            "/ping to say why the code could not be fetched",
        )
        assert f"cannot fetch the code from {uri}: no such object" in body
        assert '"code":"code_unavailable"' in body
        assert server.process.poll() is None  # still there, answering, as after a failed model load
        assert server.stop() == 1
        assert f"cannot start: cannot fetch the code from {uri}" in server.log_text()


@pytest.mark.integration
def test_byoc_serve_exits_at_once_when_the_fetch_fails(tmp_path: Path, model_file: Path) -> None:
    # `serve` with an archive that is not one: the cause is the extraction's.
    model_dir = make_model_dir(tmp_path, model_file)
    not_an_archive = tmp_path / "sourcedir.tar.gz"
    not_an_archive.write_text("not a tar")
    status, output = run_until_exit_serve(model_dir, not_an_archive)
    assert status == 1
    assert f"cannot fetch the code from {not_an_archive}: " in output and "not a readable tar" in output


def run_until_exit_serve(model_dir: Path, archive: Path) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "byoc", "serve", "--model-data", str(model_dir), "--port", str(free_port())],
        env={"SAGEMAKER_SUBMIT_DIRECTORY": str(archive), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr
