"""`byoc package` and `byoc inspect`: build model.tar.gz, prove it serves, and look inside one.

Building is deterministic: entries sorted, fixed times and owners, GNU tar headers (no pax headers
carrying the host's details), gzip without a name or time, so the same inputs give the same bytes.
Verifying extracts the archive exactly as the toolkit does everywhere (container.archives.extraction), then
starts the real server on it in a separate process (in a private virtualenv layered over this one
when code/requirements.txt must be installed) and, given a sample, asks it for a prediction.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from container import __version__
from container.archives import extraction as archive
from container.archives import manifest
from container.serving.server_process import ServerNotReady, ServerProcess

DEFAULT_MTIME = 946684800  # 2000-01-01T00:00:00Z; SOURCE_DATE_EPOCH overrides it
SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store", ".git", ".ipynb_checkpoints", ".pytest_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".skops")
VERIFY_TIMEOUT_SECONDS = 600.0


class PackagingError(Exception):
    """The inputs cannot make a valid archive; the message says which and why."""


@dataclass(frozen=True)
class PackageSpec:
    model_path: Path
    output: Path
    code: Path | None = None
    requirements: Path | None = None
    include: tuple[Path, ...] = ()
    handler: str = "sklearn"
    version_overrides: dict[str, str] = field(default_factory=dict)


# --- building ---------------------------------------------------------------------------------


def collect_files(spec: PackageSpec) -> dict[str, Path]:
    """Archive name -> source file, for everything the archive will hold but the manifest."""
    files: dict[str, Path] = {}

    def add(name: str, source: Path) -> None:
        if name == manifest.FILENAME:
            raise PackagingError(f"{source}: the name {name} is reserved for the toolkit's manifest")
        if name in files:
            raise PackagingError(f"two inputs want the archive name {name!r}: {files[name]} and {source}")
        files[name] = source

    if not spec.model_path.exists():
        raise PackagingError(f"the model path {spec.model_path} does not exist")
    for name, source in _walk(spec.model_path):
        add(name, source)
    if spec.code is not None:
        if not spec.code.exists():
            raise PackagingError(f"the code path {spec.code} does not exist")
        for name, source in _walk(spec.code):
            add(f"code/{name}", source)
    if spec.requirements is not None:
        if not spec.requirements.is_file():
            raise PackagingError(f"the requirements file {spec.requirements} does not exist")
        add("code/requirements.txt", spec.requirements)
    for extra in spec.include:
        for name, source in _walk(extra):
            add(name if extra.is_dir() else extra.name, source)
    return files


def program_name(spec: PackageSpec, files: dict[str, Path]) -> str | None:
    """The user module SAGEMAKER_PROGRAM must name, when there is code."""
    if spec.code is not None and spec.code.is_file():
        return spec.code.name
    if "code/inference.py" in files:
        return "inference.py"
    return None


def build_manifest(spec: PackageSpec, files: dict[str, Path]) -> dict[str, Any]:
    versions = {**manifest.installed_versions(), **spec.version_overrides}
    return manifest.build(files, versions, spec.handler, program_name(spec, files), __version__)


def write_archive(files: dict[str, Path], manifest_bytes: bytes, output: IO[bytes]) -> None:
    """Write a byte-for-byte reproducible tar.gz of `files` plus the manifest to `output`."""
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_MTIME))
    directories = {
        str(parent) for name in files for parent in PurePosixPath(name).parents if str(parent) != "."
    }
    names = sorted([*files, *directories, manifest.FILENAME])
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=output, mtime=0, compresslevel=6) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name in names:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if name in directories:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif name == manifest.FILENAME:
                info.mode = 0o644
                info.size = len(manifest_bytes)
                tar.addfile(info, io.BytesIO(manifest_bytes))
            else:
                source = files[name]
                info.mode = 0o755 if os.access(source, os.X_OK) else 0o644
                info.size = source.stat().st_size
                with source.open("rb") as content:
                    tar.addfile(info, content)


def _walk(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(path.name, path)]
    found = []
    for root, dirs, filenames in os.walk(path, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_NAMES)
        for filename in sorted(filenames):
            source = Path(root) / filename
            if filename in SKIPPED_NAMES or source.suffix in SKIPPED_SUFFIXES:
                continue
            if source.is_symlink() and not source.exists():
                raise PackagingError(f"{source} is a symlink to nothing")
            found.append((source.relative_to(path).as_posix(), source))
    return found


# --- verifying --------------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    cause: str = ""
    loaded: list[str] = field(default_factory=list)
    status: int | None = None
    answer: str = ""


def verify(
    archive_path: Path,
    handler: str,
    program: str | None,
    sample: Path | None = None,
    content_type: str | None = None,
    accept: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> Verification:
    """Extract the archive as the container would and serve it with the real runtime."""
    with tempfile.TemporaryDirectory(prefix="byoc-verify-") as scratch:
        model_dir = Path(scratch) / "model"
        try:
            archive.safe_extract(archive_path, model_dir)
        except archive.ArchiveError as exc:  # UnsafeArchive too
            return Verification(False, f"the archive cannot be extracted: {exc}")
        python = sys.executable
        if (model_dir / "code" / "requirements.txt").is_file():
            progress("creating a private virtualenv for code/requirements.txt")
            python = overlay_virtualenv(Path(scratch) / "venv")
        env = {"BYOC_HANDLER": handler, "SAGEMAKER_CONTAINER_LOG_LEVEL": "20"}
        if program:
            env["SAGEMAKER_PROGRAM"] = program
        server = ServerProcess(model_dir, env=env, workers=1, python=python)
        reported: set[int] = set()

        def waiting(seconds: float, _last_ping: str) -> None:
            if int(seconds) not in reported:  # one line a second, not one a poll
                reported.add(int(seconds))
                progress(f"waiting for /ping ({seconds:.0f} s)")

        with server:
            try:
                server.wait_until_ready(VERIFY_TIMEOUT_SECONDS, on_wait=waiting)
            except ServerNotReady:
                return Verification(False, failure_cause(server), _loaded_lines(server.log_text()))
            result = Verification(True, loaded=_loaded_lines(server.log_text()))
            if sample is not None:
                result.status, result.answer = post_sample(server.url, sample, content_type, accept)
                if result.status != 200:
                    result.ok = False
                    result.cause = f"the sample got HTTP {result.status}: {result.answer}"
            return result


def overlay_virtualenv(path: Path) -> str:
    """A virtualenv that sees this environment's packages and installs only what is missing."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    python = path / "bin" / "python"
    site_packages = Path(
        _run_python(str(python), "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    )
    parents = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    # addsitedir (not a plain path line) so the parent's own .pth files, editable installs among
    # them, are processed too; the overlay's site-packages stays first, so its installs win.
    lines = [f"import site; site.addsitedir({parent!r})" for parent in parents]
    (site_packages / "_byoc_parent_environment.pth").write_text("\n".join(lines) + "\n")
    return str(python)


def failure_cause(server: ServerProcess) -> str:
    """The one line that says why the server did not come up: start-up error or load failure."""
    status, body = server.ping()
    if status == 503 and body:
        try:
            return str(json.loads(body).get("message", body))
        except ValueError:
            return body
    log = server.log_text()
    for line in log.splitlines():
        if "cannot start:" in line:
            return line.split("cannot start:", 1)[1].strip() + _continuation(log, line)
    return f"the server did not start:\n{server.log_tail(15)}"


def post_sample(url: str, sample: Path, content_type: str | None, accept: str | None) -> tuple[int, str]:
    headers = {"Content-Type": content_type or "application/json"}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(f"{url}/invocations", data=sample.read_bytes(), headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    try:
        with opener.open(request, timeout=VERIFY_TIMEOUT_SECONDS) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _loaded_lines(log: str) -> list[str]:
    keys = (
        "handler functions:",
        "model loaded in",
        "version mismatch:",
        "imported user module",
        "installed ",
    )
    return [line.split(": ", 1)[-1] for line in log.splitlines() if any(key in line for key in keys)]


def _continuation(log: str, line: str) -> str:
    # A pip failure's message spans several lines after the one that names it.
    following = log.split(line, 1)[1].splitlines()[1:]
    kept = [text for text in following if text and not text.startswith(("[", "20"))][:15]
    return ("\n" + "\n".join(kept)) if kept else ""


def _run_python(python: str, code: str) -> str:
    import subprocess

    return subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout


# --- inspecting -------------------------------------------------------------------------------


@dataclass
class Inspection:
    entries: list[archive.Entry]
    manifest: dict[str, Any] | None
    warnings: list[str]
    problems: list[str]  # make the archive unfit to deploy: non-zero exit

    @property
    def ok(self) -> bool:
        return not self.problems


def inspect_archive(archive_path: Path, limits: archive.Limits | None = None) -> Inspection:
    """Members, manifest, and what looks wrong; UnsafeArchive / ArchiveError for unsafe ones."""
    entries: list[archive.Entry] = []
    digests: dict[str, str] = {}
    saved: dict[str, Any] | None = None
    manifest_error = ""
    try:
        for entry, content in archive.iter_members(archive_path, limits):
            entries.append(entry)
            if content is None:
                continue
            if entry.name == manifest.FILENAME:
                try:
                    saved = manifest.loads(content.read())
                except ValueError as exc:
                    manifest_error = str(exc)
                continue
            digest = hashlib.sha256()
            while chunk := content.read(1024 * 1024):
                digest.update(chunk)
            digests[entry.name] = digest.hexdigest()
    except archive.DAMAGE_ERRORS as exc:
        raise archive.ArchiveError(f"the archive is damaged: {exc}") from None
    warnings, problems = _review(entries, digests, saved, manifest_error)
    return Inspection(entries, saved, warnings, problems)


def _review(
    entries: list[archive.Entry], digests: dict[str, str], saved: dict[str, Any] | None, manifest_error: str
) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    problems: list[str] = []
    names = {e.name for e in entries if e.kind != "dir"}
    top_level = {name.split("/", 1)[0] for name in names}
    if len(top_level) == 1 and all("/" in name for name in names):
        (folder,) = top_level
        problems.append(
            f"every file is under {folder}/: SageMaker extracts the archive into /opt/ml/model, so the "
            f"model would be at /opt/ml/model/{folder}/...; package the folder's contents instead"
        )
    if manifest_error:
        problems.append(manifest_error)
    if saved is None:
        if not manifest_error:
            warnings.append(f"no {manifest.FILENAME}: not made by `byoc package`, so versions are unknown")
    else:
        recorded = saved.get("files", {})
        for name, info in sorted(recorded.items()):
            if name not in digests:
                problems.append(f"{name} is in the manifest but not in the archive")
            elif digests[name] != info.get("sha256"):
                problems.append(f"{name} does not match its sha256 in the manifest (changed after packaging)")
        for name in sorted(set(digests) - set(recorded)):
            warnings.append(f"{name} is not in the manifest (added after packaging)")
        for finding in manifest.compare(saved, manifest.installed_versions(saved.get("versions", {}))):
            prefix = "version mismatch" if finding.is_error else "version difference"
            warnings.append(f"{prefix} with this environment: {finding.describe()}")
    program = (saved or {}).get("program") or "inference.py"
    has_code = any(name.startswith("code/") for name in names)
    if has_code and f"code/{program}" not in names:
        warnings.append(f"code/ holds no {program}: set SAGEMAKER_PROGRAM to the module to run")
    handler = (saved or {}).get("handler", "sklearn")
    root_models = [n for n in names if "/" not in n and n.endswith(MODEL_SUFFIXES)]
    if handler == "sklearn" and not has_code and len(root_models) != 1:
        found = ", ".join(sorted(root_models)) or "none"
        warnings.append(f"the scikit-learn handler loads exactly one model file at the root; found {found}")
    return warnings, problems
