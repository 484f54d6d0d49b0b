"""`byoc package`, the building half: which files go into model.tar.gz, its manifest, its bytes.

Building is deterministic: entries sorted, fixed times and owners, GNU tar headers (no pax headers
carrying the host's details), gzip without a name or time, so the same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from container import __version__
from container.archives import manifest

DEFAULT_MTIME = 946684800  # 2000-01-01T00:00:00Z; SOURCE_DATE_EPOCH overrides it
SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store", ".git", ".ipynb_checkpoints", ".pytest_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".skops")


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


def require_model(spec: PackageSpec, files: dict[str, Path]) -> None:
    """PackagingError, naming the user's path, when nothing in the archive could be the model.

    With code/, the user's model_fn may load any file, so only serving the archive can tell.
    """
    if any(name.startswith("code/") for name in files):
        return
    if not any("/" not in name and name.lower().endswith(MODEL_SUFFIXES) for name in files):
        raise PackagingError(
            f"{spec.model_path} holds no model file: expected a file ending in {', '.join(MODEL_SUFFIXES)} "
            "(or give --code with a model_fn that loads your own format)"
        )


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
