"""`byoc package`, `byoc inspect` and `byoc serve --model-data`, run as a user runs them."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import joblib
import pytest

from container.archives import manifest
from container.serving.server_process import free_port
from handlers.sklearn import HANDLER as SKLEARN
from model_artifacts.train import train

ROOT = Path(__file__).resolve().parents[3]
PAYLOADS = ROOT / "local_test" / "payloads"
SAMPLE_SCRIPT = ROOT / "model_artifacts" / "code" / "inference.py"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def byoc(
    *args: str | Path, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "byoc", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(train(), path)
    return path


def members(archive: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(archive) as tar:
        return {m.name: m for m in tar.getmembers()}


def read_member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        return tar.extractfile(name).read()


def test_the_sample_model_packages_and_verifies_with_a_prediction(tmp_path, model_file):
    out = tmp_path / "model.tar.gz"
    result = byoc(
        "package",
        model_file,
        "-o",
        out,
        "--sample",
        PAYLOADS / "three_rows.csv",
        "--content-type",
        "text/csv",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout
    assert "packed 1 file:" in result.stdout and "program (none)" in result.stdout
    assert (
        f"handler sklearn: {model_file} holds model.joblib: model files of the sklearn handler"
        in result.stdout
    )
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert "sample three_rows.csv: HTTP 200" in result.stdout
    assert '"predictions":[0,1,2]' in result.stdout
    assert set(members(out)) == {"model.joblib", manifest.FILENAME}
    saved = manifest.loads(read_member(out, manifest.FILENAME))
    assert saved["handler"] == "sklearn" and saved["program"] is None
    assert saved["versions"]["scikit-learn"] == manifest.installed_versions(SKLEARN.packages)["scikit-learn"]
    assert set(saved["versions"]) >= {"python", "scikit-learn", "numpy", "joblib"}
    assert saved["strict"] == ["scikit-learn"]
    assert saved["files"]["model.joblib"] == manifest.describe_file(model_file)


def test_the_custom_script_sample_packages_under_code_and_verifies(tmp_path, model_file):
    out = tmp_path / "custom.tar.gz"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy\n")  # already satisfied: installs nothing, proves the path works
    result = byoc(
        "package", model_file, "-o", out, "--code", SAMPLE_SCRIPT, "--requirements", requirements,
        "--sample", PAYLOADS / "features.json", "--content-type", "application/json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"label": "setosa"' in result.stdout
    assert "model_fn from inference" in result.stdout
    names = members(out)
    assert {"code", "code/inference.py", "code/requirements.txt", "model.joblib"} <= set(names)
    assert names["code"].isdir()
    assert manifest.loads(read_member(out, manifest.FILENAME))["program"] == "inference.py"


def test_archives_are_byte_identical_for_the_same_inputs(tmp_path, model_file):
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    assert byoc("package", model_file, "-o", first, "--code", SAMPLE_SCRIPT).returncode == 0
    os.utime(model_file, (1_000_000_000, 1_000_000_000))  # the inputs' own times must not matter
    assert byoc("package", model_file, "-o", second, "--code", SAMPLE_SCRIPT).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    for info in members(first).values():
        assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "root", "root")
        assert info.mtime == 946684800
        assert not info.pax_headers
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header carries no timestamp


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("import_error", "failed to import: ModuleNotFoundError: No module named 'not_a_real_module_xyz'"),
        ("requirements", "pip could not install"),
        ("version_mismatch", "scikit-learn: the model was saved with 1.0.2"),
        ("sample_rejected", "the sample got HTTP 400"),
    ],
)
def test_each_failure_is_named_and_leaves_no_archive(tmp_path, model_file, case, expected):
    out = tmp_path / "out" / "model.tar.gz"
    args: list[str | Path] = ["package", model_file, "-o", out]
    if case == "import_error":
        script = tmp_path / "inference.py"
        script.write_text("import not_a_real_module_xyz\n")
        args += ["--code", script]
    elif case == "requirements":
        requirements = tmp_path / "requirements.txt"
        requirements.write_text("./no-such-file-here.whl\n")  # pip refuses it without any network
        args += ["--code", SAMPLE_SCRIPT, "--requirements", requirements]
    elif case == "version_mismatch":
        args += ["--set-version", "scikit-learn=1.0.2"]
    elif case == "sample_rejected":
        args += ["--sample", PAYLOADS / "wrong_width.csv", "--content-type", "text/csv"]
    result = byoc(*args)
    assert result.returncode == 1, result.stdout
    assert "verification failed" in result.stderr
    assert expected in result.stderr
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # the staged archive is gone too


def test_a_directory_without_a_model_is_refused_before_any_server_starts(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no model here")
    out = tmp_path / "out" / "model.tar.gz"
    result = byoc("package", empty, "-o", out)
    assert result.returncode == 1, result.stdout
    assert f"{empty} holds no model file" in result.stderr  # the user's directory, not a temp path
    assert "verifying" not in result.stdout  # refused before serving anything
    assert not out.exists()


def test_a_failure_while_serving_names_the_users_directory(tmp_path, model_file):
    model_dir = tmp_path / "two-models"
    model_dir.mkdir()
    (model_dir / "a.joblib").write_bytes(model_file.read_bytes())
    (model_dir / "b.joblib").write_bytes(model_file.read_bytes())
    result = byoc("package", model_dir, "-o", tmp_path / "model.tar.gz")
    assert result.returncode == 1, result.stdout
    assert f"several model files in {model_dir} (a.joblib, b.joblib)" in result.stderr
    assert "byoc-verify-" not in result.stderr


def test_bad_inputs_are_refused_before_anything_is_written(tmp_path, model_file):
    result = byoc("package", tmp_path / "missing.joblib", "-o", tmp_path / "m.tar.gz")
    assert result.returncode == 1 and "does not exist" in result.stderr
    result = byoc("package", model_file, "-o", tmp_path / "m.tar.gz", "--set-version", "numpy")
    assert result.returncode == 2 and "PACKAGE=VERSION" in result.stderr
    clash = tmp_path / "clash"
    (clash / "code").mkdir(parents=True)
    (clash / "model.joblib").write_bytes(model_file.read_bytes())
    (clash / "code" / "inference.py").write_text("")
    result = byoc("package", clash, "-o", tmp_path / "m.tar.gz", "--code", SAMPLE_SCRIPT)
    assert result.returncode == 1 and "code/inference.py" in result.stderr
    assert not (tmp_path / "m.tar.gz").exists()


def test_the_handler_comes_from_the_model_files_and_ambiguity_is_refused(tmp_path, model_file, monkeypatch):
    # A stand-in with the XGBoost handler's declared model files (issue 12), beside the real sklearn.
    from container.contract import registry
    from container.contract.spec import HandlerSpec
    from container.packaging import build

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(model_file.read_bytes())
    spec = build.PackageSpec(model_path=model_dir, output=tmp_path / "m.tar.gz")
    chosen = build.choose_handler(spec, build.collect_files(spec))
    assert (chosen.name, chosen.spec.name) == ("sklearn", "sklearn")
    (model_dir / "xgboost-model").write_bytes(b"")
    xgboost = HandlerSpec(name="xgboost", model_files=("xgboost-model",))
    monkeypatch.setattr(registry, "discover", lambda: ([SKLEARN, xgboost], {}))
    with pytest.raises(build.PackagingError) as caught:
        build.choose_handler(spec, build.collect_files(spec))
    assert str(caught.value) == (
        f"{model_dir} holds model files of several handlers: model.joblib (sklearn); "
        "xgboost-model (xgboost). Keep one handler's model files, "
        "or name the handler to serve with in BYOC_HANDLER (byoc package --handler NAME)"
    )
    named = build.choose_handler(
        build.PackageSpec(model_path=model_dir, output=tmp_path / "m.tar.gz", handler="sklearn"),
        build.collect_files(spec),
    )
    assert (named.name, named.reason) == ("sklearn", "--handler sklearn")


def test_a_named_handler_needs_one_of_its_model_files(tmp_path):
    result = byoc("package", PAYLOADS / "three_rows.csv", "-o", tmp_path / "m.tar.gz", "--handler", "sklearn")
    assert result.returncode == 1
    assert "three_rows.csv holds no model file of the sklearn handler: expected a file matching *.joblib" in (
        result.stderr
    )
    assert "verifying" not in result.stdout


# --- inspect ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, model_file) -> Path:
    out = tmp_path_factory.mktemp("packaged") / "model.tar.gz"
    result = byoc("package", model_file, "-o", out, "--code", SAMPLE_SCRIPT)
    assert result.returncode == 0, result.stderr
    return out


def rewrite(source: Path, target: Path, change) -> Path:
    """Copy an archive member by member, letting `change(name, data)` alter or drop members."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for info in old.getmembers():
            data = old.extractfile(info).read() if info.isfile() else None
            changed = change(info.name, data)
            if changed is None and info.isfile():
                continue
            if info.isfile():
                info.size = len(changed)
                new.addfile(info, io.BytesIO(changed))
            else:
                new.addfile(info)
    return target


def test_inspect_lists_contents_and_manifest(packaged):
    result = byoc("inspect", packaged)
    assert result.returncode == 0, result.stderr
    assert "code/inference.py" in result.stdout and "model.joblib" in result.stdout
    assert "handler sklearn; program inference.py" in result.stdout
    assert "warning" not in result.stdout
    document = json.loads(byoc("inspect", packaged, "--json").stdout)
    assert document["ok"] is True and document["problems"] == []
    assert {e["name"] for e in document["entries"]} >= {"model.joblib", "code/inference.py"}


def test_the_manifest_is_hidden_from_awss_xgboost_image(packaged):
    # AWS's XGBoost image loads every non-hidden file at the top of the model directory as a model
    # (aws/sagemaker-xgboost-container, algorithm_mode/serve_utils.py: _get_full_model_paths).
    assert manifest.FILENAME.startswith(".")
    top_level = {name for name in members(packaged) if "/" not in name and not name.startswith(".")}
    assert top_level == {"code", "model.joblib"}
    assert manifest.FILENAME in members(packaged)


def test_an_archive_with_the_old_manifest_name_is_still_read(tmp_path, packaged):
    old = tmp_path / "old.tar.gz"
    with tarfile.open(packaged) as source, tarfile.open(old, "w:gz") as target:
        for info in source.getmembers():
            data = source.extractfile(info).read() if info.isfile() else None
            if info.name == manifest.FILENAME:
                info.name = "byoc-manifest.json"
            target.addfile(info, io.BytesIO(data) if data is not None else None)
    document = json.loads(byoc("inspect", old, "--json").stdout)
    assert document["ok"] is True, document
    assert document["manifest"]["handler"] == "sklearn"
    assert not [w for w in document["warnings"] if "manifest" in w]
    model_dir = tmp_path / "extracted"
    assert byoc("extract", old, model_dir).returncode == 0
    saved = manifest.loads((model_dir / "byoc-manifest.json").read_bytes())
    saved["versions"]["scikit-learn"] = "0.24.2"
    (model_dir / "byoc-manifest.json").write_bytes(manifest.dumps(saved))
    with pytest.raises(
        manifest.VersionMismatch, match=re.escape("scikit-learn: the model was saved with 0.24.2")
    ):
        manifest.check_model_dir(model_dir, allow_mismatch=False)


def test_inspect_fails_on_a_file_changed_after_packaging(tmp_path, packaged):
    tampered = rewrite(
        packaged, tmp_path / "t.tar.gz", lambda name, data: b"changed" if name == "model.joblib" else data
    )
    result = byoc("inspect", tampered)
    assert result.returncode == 1
    assert "model.joblib does not match its sha256" in result.stdout


def test_inspect_warns_about_a_missing_manifest_and_a_nested_folder(tmp_path, model_file):
    nested = tmp_path / "nested.tar.gz"
    with tarfile.open(nested, "w:gz") as tar:
        tar.add(model_file, arcname="model/model.joblib")
    result = byoc("inspect", nested)
    assert result.returncode == 1
    assert "every file is under model/" in result.stdout
    assert f"no {manifest.FILENAME}" in result.stdout


def test_inspect_refuses_an_unsafe_archive(tmp_path):
    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(hostile, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/x")
        tar.addfile(info, io.BytesIO(b""))
    result = byoc("inspect", hostile)
    assert result.returncode == 1
    assert "unsafe archive member '../../etc/cron.d/x'" in result.stderr


# --- serve --model-data -----------------------------------------------------------------------


def post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_ping(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "byoc serve exited"
        try:
            with opener.open(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("byoc serve never became ready")


@pytest.mark.integration
def test_serve_model_data_extracts_the_archive_privately_and_cleans_up(tmp_path, packaged):
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "byoc", "serve", "--model-data", str(packaged),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_ping(f"http://127.0.0.1:{port}", process)
        extracted = [p for p in tmp_path.iterdir() if p.name.startswith("byoc-serve-")]
        assert len(extracted) == 1 and (extracted[0] / "model" / "code" / "inference.py").is_file()
        status, body = post(
            f"http://127.0.0.1:{port}/invocations",
            (PAYLOADS / "features.json").read_bytes(),
            "application/json",
        )
        assert status == 200
        assert json.loads(body)["predictions"][0]["label"] == "setosa"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("byoc-serve-")]
    assert "Bad file descriptor" not in output  # workers stop quietly


@pytest.mark.integration
@pytest.mark.parametrize("case", ["missing", "no_model"])
def test_serve_exits_at_once_when_there_is_nothing_to_serve(tmp_path, case):
    model_data = tmp_path / "missing"
    if case == "no_model":
        model_data.mkdir()
        (model_data / "notes.txt").write_text("no model here")
    result = byoc("serve", "--model-data", model_data, "--host", "127.0.0.1", "--port", str(free_port()))
    assert result.returncode == 1, result.stdout + result.stderr
    reason = "does not exist" if case == "missing" else f"no model file in {model_data}"
    assert reason in result.stderr


@pytest.mark.integration
def test_serve_refuses_an_unsafe_archive(tmp_path):
    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(hostile, "w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc"
        tar.addfile(info)
    result = byoc("serve", "--model-data", hostile, "--port", str(free_port()), timeout=60)
    assert result.returncode == 1
    assert "unsafe archive member 'link'" in result.stderr


@pytest.mark.integration
def test_a_version_mismatch_fails_the_load_unless_allowed(tmp_path, model_file):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(model_file.read_bytes())
    saved = manifest.build(
        {},
        {"scikit-learn": "0.24.2", "numpy": "1.0.0"},
        "sklearn",
        None,
        "test",
        strict=SKLEARN.strict_packages,
    )
    (model_dir / manifest.FILENAME).write_bytes(manifest.dumps(saved))
    from container.serving.server_process import ServerNotReady, ServerProcess

    with ServerProcess(model_dir) as server:
        with pytest.raises(ServerNotReady, match=re.escape("scikit-learn: the model was saved with 0.24.2")):
            server.wait_until_ready(timeout=60)
        status, body = server.ping()
        assert status == 503 and "BYOC_ALLOW_VERSION_MISMATCH" in body
    with ServerProcess(model_dir, env={"BYOC_ALLOW_VERSION_MISMATCH": "true"}) as server:
        server.wait_until_ready(timeout=60)
        assert server.ping()[0] == 200
        log = server.log_text()
    assert "version mismatch: scikit-learn: the model was saved with 0.24.2" in log
    assert "version mismatch: numpy: the model was saved with 1.0.0" in log
