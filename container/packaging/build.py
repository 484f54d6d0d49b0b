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
from container.config import DEFAULT_HANDLER
from container.contract import registry
from container.contract.spec import HandlerSpec
from container.errors import StartupError

DEFAULT_MTIME = 946684800  # 2000-01-01T00:00:00Z; SOURCE_DATE_EPOCH overrides it
SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store", ".git", ".ipynb_checkpoints", ".pytest_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})


class PackagingError(Exception):
    """The inputs cannot make a valid archive; the message says which and why."""


@dataclass(frozen=True)
class PackageSpec:
    model_path: Path
    output: Path
    code: Path | None = None
    requirements: Path | None = None
    include: tuple[Path, ...] = ()
    # --handler; None: chosen from the model files, as the server chooses (container.contract.registry).
    handler: str | None = None
    version_overrides: dict[str, str] = field(default_factory=dict)


def collect_files(spec: PackageSpec) -> dict[str, Path]:
    """Archive name -> source file, for everything the archive will hold but the manifest."""
    files: dict[str, Path] = {}

    def add(name: str, source: Path) -> None:
        if manifest.is_manifest_name(name):
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


@dataclass(frozen=True)
class ChosenHandler:
    """The handler an archive is packaged for: the name the manifest records, its spec, and why."""

    name: str
    spec: HandlerSpec
    reason: str


def choose_handler(spec: PackageSpec, files: dict[str, Path]) -> ChosenHandler:
    """--handler, or the handler whose model files the archive holds; PackagingError, naming the
    user's path, when the files are of several handlers, or of none and there is no code/.

    With code/, the user's model_fn may load any file, so only serving the archive can tell.
    """
    root = [name for name in files if "/" not in name]
    has_code = any(name.startswith("code/") for name in files)
    if spec.handler:
        handler = _load(spec.handler)
        # A handler that declares no model files loads whatever its model_fn loads.
        if handler.model_files and not has_code and not any(handler.claims(name) for name in root):
            raise PackagingError(
                f"{spec.model_path} holds no model file of the {spec.handler} handler: expected a file "
                f"matching {', '.join(handler.model_files)} (or give --code with a model_fn that loads "
                "your own format)"
            )
        return ChosenHandler(spec.handler, handler, f"--handler {spec.handler}")
    specs, _failures = registry.discover()
    try:
        choice = registry.choose_by_files(root, specs, where=str(spec.model_path), default=DEFAULT_HANDLER)
    except registry.AmbiguousModelFiles as exc:
        raise PackagingError(f"{exc} (byoc package --handler NAME)") from None
    if not registry.claims(root, specs) and not has_code:
        expected = "; ".join(f"{', '.join(s.model_files)} ({s.name})" for s in specs if s.model_files)
        raise PackagingError(
            f"{spec.model_path} holds no model file: expected a file matching {expected} "
            "(or give --code with a model_fn that loads your own format)"
        )
    return ChosenHandler(choice.name, _load(choice.name), choice.reason)


def _load(name: str) -> HandlerSpec:
    try:
        return registry.load_spec(name)
    except StartupError as exc:  # HandlerContractError too
        raise PackagingError(str(exc)) from None


def program_name(spec: PackageSpec, files: dict[str, Path]) -> str | None:
    """The user module SAGEMAKER_PROGRAM must name, when there is code."""
    if spec.code is not None and spec.code.is_file():
        return spec.code.name
    if "code/inference.py" in files:
        return "inference.py"
    return None


def build_manifest(spec: PackageSpec, files: dict[str, Path], handler: ChosenHandler) -> dict[str, Any]:
    """The manifest the handler asks for: the versions of its packages, which of them are strict."""
    versions = {**manifest.installed_versions(handler.spec.packages), **spec.version_overrides}
    return manifest.build(
        files,
        versions,
        handler.name,
        program_name(spec, files),
        __version__,
        strict=handler.spec.strict_packages,
        packages=handler.spec.packages,
    )


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
