"""The manifest `byoc package` writes into model.tar.gz, and the version check made at model load.

A pickle made with one scikit-learn version and loaded by another fails in cryptic ways, or worse,
loads and predicts differently. The manifest records the versions the model was saved with; the
runtime compares them with its own before model_fn runs and says plainly what differs. Pure logic:
reading files and logging are the callers' business.
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

FILENAME = "byoc-manifest.json"
FORMAT_VERSION = 1
# The packages whose versions are recorded, and the ones whose major.minor must match at load
# (scikit-learn does not promise that a pickle loads, or predicts the same, across minor versions).
RECORDED_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib")
STRICT_PACKAGES = ("scikit-learn",)
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


def installed_versions(packages: Iterable[str] = RECORDED_PACKAGES) -> dict[str, str]:
    """Versions of `packages` installed here, plus "python"; missing packages are left out."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def build(
    files: Mapping[str, bytes | Path],
    versions: Mapping[str, str],
    handler: str,
    program: str | None,
    toolkit_version: str,
) -> dict[str, Any]:
    """The manifest for an archive holding `files` (archive name -> content or path)."""
    return {
        "format": FORMAT_VERSION,
        "toolkit": toolkit_version,
        "versions": dict(sorted(versions.items())),
        "strict": [p for p in STRICT_PACKAGES if p in versions],
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


def loads(data: bytes) -> dict[str, Any]:
    manifest = orjson.loads(data)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{FILENAME} is not a format-{FORMAT_VERSION} manifest")
    return manifest


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
    path = model_dir / FILENAME
    if not path.is_file():
        return []
    saved = loads(path.read_bytes())
    packages = [p for p in saved.get("versions", {}) if p != "python"]
    findings = compare(saved, installed_versions(packages))
    errors = [f for f in findings if f.is_error]
    if errors and not allow_mismatch:
        raise VersionMismatch(errors)
    return findings
