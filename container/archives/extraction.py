"""Open model archives (model.tar.gz) safely: the one place the toolkit extracts an archive.

Every member is checked before anything of it is written, in one streaming pass:
  - names must be relative and stay inside the destination (no absolute paths, no `..` escapes,
    no writing through a symlink);
  - symlinks must point inside the destination, judged as the file system will resolve them once
    every member is in place: through the archive's other symlinks (`sub/up -> ..`, then
    `l2 -> sub/up/..` leads out), whichever order they come in; hard links must name a regular file
    extracted earlier;
  - device files and FIFOs are refused, and so is a name that appears twice (a later member could
    silently replace an earlier one);
  - the total size and the number of members are capped, against archive bombs.
Extraction goes into a private staging directory that replaces the destination only when every
member passed, so a refused archive leaves nothing half-written behind. `byoc inspect` judges an
archive through the same checks (iter_members), so the two can never disagree. Permission bits are
reduced to rwx for the owner and r-x for others; set-uid and the like never survive.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

GIB = 1024**3
DEFAULT_MAX_BYTES = 32 * GIB
DEFAULT_MAX_MEMBERS = 100_000
MAX_BYTES_ENV = "BYOC_ARCHIVE_MAX_BYTES"
MAX_MEMBERS_ENV = "BYOC_ARCHIVE_MAX_MEMBERS"
COPY_CHUNK = 1024 * 1024
# Symlinks followed while resolving one path before it counts as a loop (Linux's own limit).
MAX_LINK_HOPS = 40
# What reading a truncated or corrupted tar.gz raises, depending on where the damage is.
DAMAGE_ERRORS = (tarfile.TarError, EOFError, zlib.error)


class ArchiveError(ValueError):
    """The archive cannot be opened safely: unreadable, damaged, over a limit, or unsafe."""


class UnsafeArchive(ArchiveError):
    """The archive holds a member that must not be extracted; `member` names it."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"unsafe archive member {member!r}: {reason}")
        self.member = member
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Caps against archive bombs; container.config.load_archive_limits reads them from the environment."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS


@dataclass(frozen=True)
class Entry:
    """One checked member: its normalised name, kind, size and (for links) target."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink"
    size: int
    mode: int
    target: str | None = None


@dataclass
class _Tally:
    limits: Limits
    seen: dict[str, str] = field(default_factory=dict)  # name -> kind
    # Directories that exist only because members were written inside them.
    implied_dirs: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)  # symlink name -> target
    total_bytes: int = 0
    members: int = 0


def list_entries(archive: Path, limits: Limits | None = None) -> list[Entry]:
    """Check every member without extracting; UnsafeArchive or ArchiveError on the first problem."""
    return [entry for entry, _content in iter_members(archive, limits)]


def iter_members(archive: Path, limits: Limits | None = None) -> Iterator[tuple[Entry, IO[bytes] | None]]:
    """Each checked member in archive order, with a reader for regular files' content.

    A reader is only valid until the next member is taken (the archive is read as a stream).
    """
    with _open(archive) as tar:
        for entry, member in _checked_members(tar, limits):
            yield entry, tar.extractfile(member) if entry.kind == "file" else None


def safe_extract(archive: Path, destination: Path, limits: Limits | None = None) -> list[Entry]:
    """Extract `archive` into `destination` (absent or empty) if, and only if, every member is safe."""
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ArchiveError(f"{destination} exists and is not an empty directory")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".byoc-extract-", dir=destination.parent))
    try:
        with _open(archive) as tar:
            try:
                entries = [
                    _write(tar, entry, member, staging) for entry, member in _checked_members(tar, limits)
                ]
            except DAMAGE_ERRORS as exc:
                raise ArchiveError(f"the archive is damaged: {exc}") from None
        if destination.exists():
            destination.rmdir()
        staging.chmod(0o755)  # mkdtemp made it private; the model is read by whoever serves it
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return entries


# --- checking ---------------------------------------------------------------------------------


def _open(archive: Path) -> tarfile.TarFile:
    try:
        # Stream mode ("r|*"): members are read in order, once, without seeking or a member index.
        return tarfile.open(archive, mode="r|*")
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"{archive} is not a readable tar archive: {exc}") from None


def _checked_members(tar: tarfile.TarFile, limits: Limits | None) -> Iterator[tuple[Entry, tarfile.TarInfo]]:
    tally = _Tally(limits or Limits())
    try:
        for member in tar:
            yield _check(member, tally), member
    except DAMAGE_ERRORS as exc:
        raise ArchiveError(f"the archive is damaged: {exc}") from None
    # Each symlink was judged on arrival against the links before it; a later link can change
    # where an earlier one leads, so every link is judged again against all of them.
    for name in tally.links:
        _check_link_resolves_inside(name, tally.links)


def _check(member: tarfile.TarInfo, tally: _Tally) -> Entry:
    name = _safe_name(member.name)
    tally.members += 1
    if tally.members > tally.limits.max_members:
        raise ArchiveError(
            f"the archive has more than {tally.limits.max_members} members ({MAX_MEMBERS_ENV})"
        )
    previous = tally.seen.get(name)
    if previous is not None and not (previous == "dir" and member.isdir()):
        raise UnsafeArchive(member.name, "the name appears twice; the second would replace the first")
    if name in tally.implied_dirs and not member.isdir():
        raise UnsafeArchive(member.name, "earlier members are inside it, as a directory")
    _check_parents_are_dirs(name, tally.seen, member.name)
    mode = _safe_mode(member.mode, member.isdir())
    if member.isdir():
        entry = Entry(name, "dir", 0, mode)
    elif member.isreg():
        tally.total_bytes += member.size
        if tally.total_bytes > tally.limits.max_bytes:
            raise ArchiveError(
                f"the archive unpacks to more than {tally.limits.max_bytes} bytes ({MAX_BYTES_ENV}); "
                f"reached at {member.name!r}"
            )
        entry = Entry(name, "file", member.size, mode)
    elif member.issym():
        entry = Entry(name, "symlink", 0, mode, _symlink_target(name, member))
        tally.links[name] = member.linkname
        _check_link_resolves_inside(name, tally.links)
    elif member.islnk():
        try:
            target = _safe_name(member.linkname)
        except UnsafeArchive as exc:
            raise UnsafeArchive(member.name, f"hard link to {member.linkname!r}: {exc.reason}") from None
        if tally.seen.get(target) != "file":
            raise UnsafeArchive(
                member.name, f"hard link to {member.linkname!r}, which is not a file before it"
            )
        entry = Entry(name, "hardlink", 0, mode, target)
    else:
        raise UnsafeArchive(member.name, f"{_kind_name(member)} cannot be extracted safely")
    tally.seen[name] = entry.kind
    parent = posixpath.dirname(name)
    while parent and parent != "." and parent not in tally.implied_dirs:
        tally.implied_dirs.add(parent)
        parent = posixpath.dirname(parent)
    return entry


def _safe_name(raw: str) -> str:
    if not raw or "\x00" in raw:
        raise UnsafeArchive(raw, "empty or invalid name")
    if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchive(raw, "absolute path")
    if "\\" in raw:
        raise UnsafeArchive(raw, "backslash in the name (a Windows path)")
    name = posixpath.normpath(raw)
    if name == "." and raw.strip("/") in (".", ""):
        return "."
    if name.startswith("../") or name == ".." or "/../" in f"/{name}/":
        raise UnsafeArchive(raw, "the path leads outside the destination")
    return name


def _check_parents_are_dirs(name: str, seen: dict[str, str], raw: str) -> None:
    # Writing "a/b" after "a" was a symlink would write wherever "a" points: refuse it.
    parent = posixpath.dirname(name)
    while parent and parent != ".":
        kind = seen.get(parent)
        if kind is not None and kind != "dir":
            raise UnsafeArchive(raw, f"its parent {parent!r} is a {kind}, not a directory")
        parent = posixpath.dirname(parent)


def _symlink_target(name: str, member: tarfile.TarInfo) -> str:
    target = member.linkname
    if not target or target.startswith("/"):
        raise UnsafeArchive(member.name, f"symlink to the absolute path {target!r}")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchive(member.name, f"symlink to {target!r} leads outside the destination")
    return target


def _check_link_resolves_inside(name: str, links: Mapping[str, str]) -> None:
    """Refuse the symlink `name` if, followed through the archive's symlinks, it leads out or loops."""
    target = links[name]
    try:
        where = resolve(posixpath.join(posixpath.dirname(name), target), links)
    except _LinkLoop:
        raise UnsafeArchive(name, f"symlink to {target!r} is part of a loop of symlinks") from None
    if where is None:
        raise UnsafeArchive(name, f"symlink to {target!r} leads outside the destination through other links")


class _LinkLoop(Exception):
    pass


def resolve(path: str, links: Mapping[str, str]) -> str | None:
    """Where `path` (relative to the root) leads once `links` (name -> target) are followed.

    As the file system resolves it: component by component, a symlink's target taking its place
    relative to the link's directory, `..` going up from wherever that led. None when it leaves the
    root; _LinkLoop after MAX_LINK_HOPS links. A component that is not a link is taken as a
    directory, as extraction creates it (a dangling link resolves inside, harmlessly).
    """
    remaining = deque(path.split("/"))
    resolved: list[str] = []
    hops = 0
    while remaining:
        part = remaining.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is None:
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise _LinkLoop
        resolved.pop()
        if target.startswith("/"):
            return None
        remaining.extendleft(reversed(target.split("/")))
    return "/".join(resolved) or "."


def _safe_mode(mode: int, is_dir: bool) -> int:
    executable = is_dir or bool(mode & stat.S_IXUSR)
    return 0o755 if executable else 0o644


def _kind_name(member: tarfile.TarInfo) -> str:
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    return f"a member of type {member.type!r}"


# --- writing ----------------------------------------------------------------------------------


def _write(tar: tarfile.TarFile, entry: Entry, member: tarfile.TarInfo, root: Path) -> Entry:
    if entry.name == ".":
        return entry  # the "./" that `tar -C DIR -czf x.tar.gz .` writes first: the root itself
    path = root / entry.name
    _ensure_inside(root, path.parent, member.name)
    if entry.kind == "dir":
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(entry.mode)
        return entry
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry.kind == "file":
        source = tar.extractfile(member)
        assert source is not None
        with source, open(path, "xb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        path.chmod(entry.mode)
    elif entry.kind == "symlink":
        assert entry.target is not None
        os.symlink(entry.target, path)
        _ensure_inside(root, path, member.name)
    else:  # hardlink: a copy, so the archive cannot make two names share one inode
        assert entry.target is not None
        shutil.copyfile(root / entry.target, path)
        path.chmod(entry.mode)
    return entry


def _ensure_inside(root: Path, path: Path, raw: str) -> None:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise UnsafeArchive(raw, "the path resolves outside the destination")
