"""`byoc inspect`: look inside a model archive without extracting it, and say what looks wrong."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container.archives import extraction as archive
from container.archives import manifest
from container.packaging.build import MODEL_SUFFIXES


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
