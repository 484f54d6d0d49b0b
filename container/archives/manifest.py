"""The manifest `byoc package` writes into model.tar.gz, and the version check made at model load.

A model saved with one version of its framework and loaded by another fails in cryptic ways, or
worse, loads and predicts differently (a scikit-learn pickle across minor versions). The manifest
records the versions of the packages the handler names (HandlerSpec.packages) and which of them
are strict; the runtime compares them with its own before model_fn runs and says plainly what
differs. Pure logic, but for reading a model directory's manifest; logging is the callers' business.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

# Hidden: AWS's XGBoost image loads every non-hidden file at the top of the model directory as a
# model, so a visible manifest would break an archive made for it.
FILENAME = ".byoc-manifest.json"
# Archives made before the rename carry it under this name; they are still read.
LEGACY_FILENAMES = ("byoc-manifest.json",)
FORMAT_VERSION = 1
ALLOW_MISMATCH_ENV = "BYOC_ALLOW_VERSION_MISMATCH"


@dataclass(frozen=True)
class Finding:
    """One difference between the manifest and the running environment."""

    package: str
    saved: str
    running: str | None
    is_error: bool

    def describe(self) -> str:
        running = self.running or "not installed"
        return f"{self.package}: the model was saved with {self.saved}, this environment has {running}"


# A package entry may name alternative distributions of the same package, first the one the handler
# is built with: "xgboost-cpu|xgboost". Its version is recorded under the first name, from whichever
# is installed.
ALTERNATIVE = "|"


def canonical(entry: str) -> str:
    """The name a package entry is recorded under: its first distribution."""
    return entry.split(ALTERNATIVE)[0]


def installed_versions(packages: Iterable[str]) -> dict[str, str]:
    """Versions of `packages` installed here, plus "python"; missing packages are left out."""
    versions = {"python": platform.python_version()}
    for entry in packages:
        for distribution in entry.split(ALTERNATIVE):
            try:
                versions[canonical(entry)] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                continue
            break
    return versions


def recorded_packages(manifest: Mapping[str, Any]) -> list[str]:
    """The package entries a manifest recorded (alternatives included), to look up here."""
    alternatives = manifest.get("alternatives", {})
    return [
        ALTERNATIVE.join([name, *alternatives.get(name, [])])
        for name in manifest.get("versions", {})
        if name != "python"
    ]


def build(
    files: Mapping[str, bytes | Path],
    versions: Mapping[str, str],
    handler: str,
    program: str | None,
    toolkit_version: str,
    *,
    strict: Iterable[str],
    packages: Iterable[str] = (),
) -> dict[str, Any]:
    """The manifest for an archive holding `files` (archive name -> content or path).

    `strict`: the packages whose major.minor must match at load (the handler's strict_packages);
    `packages`: the handler's package entries, whose alternatives are recorded.
    """
    strict = set(strict)
    alternatives = {
        canonical(entry): entry.split(ALTERNATIVE)[1:] for entry in packages if ALTERNATIVE in entry
    }
    return {
        "format": FORMAT_VERSION,
        "toolkit": toolkit_version,
        "versions": dict(sorted(versions.items())),
        **({"alternatives": alternatives} if alternatives else {}),
        "strict": sorted(p for p in strict if p in versions),
        "handler": handler,
        "program": program,
        "files": {name: describe_file(content) for name, content in sorted(files.items())},
    }


def describe_file(content: bytes | Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    if isinstance(content, bytes):
        digest.update(content)
        size = len(content)
    else:
        with content.open("rb") as file:
            while chunk := file.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


def dumps(manifest: Mapping[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def loads(data: bytes, name: str = FILENAME) -> dict[str, Any]:
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{name} is not a format-{FORMAT_VERSION} manifest")
    return manifest


def is_manifest_name(name: str) -> bool:
    """Is `name` (a path inside an archive) the manifest, under its name or its old one?"""
    return name == FILENAME or name in LEGACY_FILENAMES


def read_model_dir(model_dir: Path) -> dict[str, Any] | None:
    """The model directory's manifest (under its name, or its old one), or None when it has none."""
    for name in (FILENAME, *LEGACY_FILENAMES):
        path = model_dir / name
        if path.is_file():
            return loads(path.read_bytes(), name)
    return None


def compare(manifest: Mapping[str, Any], running: Mapping[str, str]) -> list[Finding]:
    """Differences between the saved versions and the running ones, errors first."""
    strict = set(manifest.get("strict", []))
    findings = []
    for package, saved in sorted(manifest.get("versions", {}).items()):
        current = running.get(package)
        if current == saved:
            continue
        # Only a major.minor difference in a strict package is an error; a patch release is not.
        is_error = package in strict and (current is None or _minor(current) != _minor(saved))
        findings.append(Finding(package, saved, current, is_error))
    return sorted(findings, key=lambda f: not f.is_error)


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


class VersionMismatch(Exception):
    """The model was saved with versions this environment cannot be trusted to load."""

    status_code = 500
    code = "version_mismatch"

    def __init__(self, errors: list[Finding]) -> None:
        details = "; ".join(f.describe() for f in errors)
        super().__init__(
            f"{details}. Rebuild the image (or the model) with matching versions, or set "
            f"{ALLOW_MISMATCH_ENV}=true to load it anyway"
        )
        self.message = str(self)
        self.findings = errors


def check_model_dir(model_dir: Path, allow_mismatch: bool) -> list[Finding]:
    """Compare the model directory's manifest, if any, with this environment.

    Returns the findings that are only warnings (all of them when mismatches are allowed); raises
    VersionMismatch for the errors otherwise. No manifest, no findings.
    """
    saved = read_model_dir(model_dir)
    if saved is None:
        return []
    findings = compare(saved, installed_versions(recorded_packages(saved)))
    errors = [f for f in findings if f.is_error]
    if errors and not allow_mismatch:
        raise VersionMismatch(errors)
    return findings
