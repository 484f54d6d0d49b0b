"""`byoc inspect`: look inside a model archive without extracting it, and say what looks wrong.

The checks any archive gets are here; the handler the archive is for (the one its manifest names,
else the one whose model files it holds) adds its own (HandlerSpec.inspect).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container.archives import extraction as archive
from container.archives import manifest
from container.config import DEFAULT_HANDLER
from container.contract import registry
from container.contract.spec import ArchiveContents


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
            if manifest.is_manifest_name(entry.name):
                try:
                    saved = manifest.loads(content.read(), entry.name)
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
    handler_warnings, handler_problems = _handler_review(entries, saved)
    return Inspection(entries, saved, warnings + handler_warnings, problems + handler_problems)


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
        running = manifest.installed_versions(manifest.recorded_packages(saved))
        for finding in manifest.compare(saved, running):
            prefix = "version mismatch" if finding.is_error else "version difference"
            warnings.append(f"{prefix} with this environment: {finding.describe()}")
    program = (saved or {}).get("program") or "inference.py"
    has_code = any(name.startswith("code/") for name in names)
    if has_code and f"code/{program}" not in names:
        warnings.append(f"code/ holds no {program}: set SAGEMAKER_PROGRAM to the module to run")
    return warnings, problems


def _handler_review(
    entries: list[archive.Entry], saved: dict[str, Any] | None
) -> tuple[list[str], list[str]]:
    """The checks of the handler the archive is for, as the server would choose it."""
    contents = ArchiveContents(frozenset(e.name for e in entries if e.kind == "file"), saved)
    name = (saved or {}).get("handler")
    if not isinstance(name, str) or not name:
        specs, _failures = registry.discover()
        try:
            name = registry.choose_by_files(
                contents.root_files, specs, where="the archive", default=DEFAULT_HANDLER
            ).name
        except registry.AmbiguousModelFiles as exc:
            return [f"{exc}; without a manifest the server cannot choose"], []
    try:
        spec = registry.load_spec(name)
    except Exception as exc:  # not installed here, or broken: the other checks still stand
        return [f"the {name} handler is not available here ({exc}): its checks were skipped"], []
    if spec.inspect is None:
        return [], []
    review = spec.inspect(contents)
    return list(review.warnings), list(review.problems)
