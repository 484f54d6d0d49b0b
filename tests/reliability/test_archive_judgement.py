"""Archives judged twice, by `byoc inspect` and by extraction: the two verdicts must always agree.

Every case goes through inspect_archive and safe_extract. A case refused by one must be refused by
the other; a case accepted by both must, once extracted, hold no path that resolves outside the
destination. The table holds the escapes found by hand (symlink chains in either order, loops, a
directory turned into a link); one more test goes through every archive of two symlinks over a few
names and targets.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from container.archives.extraction import ArchiveError, UnsafeArchive, safe_extract
from container.packaging.inspect import inspect_archive

SYM, DIR, FILE, HARD = tarfile.SYMTYPE, tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.LNKTYPE


def make_archive(path: Path, members: list[tuple[str, int, str]]) -> Path:
    """members: (name, type, link target or file content)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == FILE:
                data = extra.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = extra
                tar.addfile(info)
    return path


def verdicts(tmp_path: Path, members: list[tuple[str, int, str]]) -> tuple[str | None, str | None]:
    """(inspect's refusal, extraction's refusal): None where the archive was accepted."""
    source = make_archive(tmp_path / "case.tar.gz", members)
    try:
        inspect_archive(source)
        inspected = None
    except ArchiveError as exc:
        inspected = str(exc)
    destination = tmp_path / "out"
    try:
        safe_extract(source, destination)
        extracted = None
    except ArchiveError as exc:
        extracted = str(exc)
        assert not destination.exists()
    else:
        assert_everything_inside(destination)
    return inspected, extracted


def assert_everything_inside(root: Path) -> None:
    real_root = os.path.realpath(root)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            real = os.path.realpath(os.path.join(directory, name))
            assert real == real_root or real.startswith(real_root + os.sep), (name, real)


CASES = {
    # The chain that inspect once passed and extraction refused.
    "chain through a link to ..": [("sub/up", SYM, ".."), ("l2", SYM, "sub/up/..")],
    # The same links in the other order: the first is harmless until the second arrives.
    "chain, later link makes an earlier one escape": [("l2", SYM, "sub/up/.."), ("sub/up", SYM, "..")],
    "link to a link that leads out": [("a", SYM, "b"), ("b", SYM, "..")],
    "loop of links": [("a", SYM, "b"), ("b", SYM, "a")],
    "link through itself": [("a", SYM, "a/x")],
    "directory of earlier members becomes a link": [("d/f", FILE, "x"), ("d", SYM, ".")],
    "write through a link": [("d", SYM, "."), ("d/x", FILE, "x")],
    "plain .. escape": [("up", SYM, "../x")],
    "absolute link": [("abs", SYM, "/etc")],
    "hard link outside": [("h", HARD, "../x")],
}
SAFE = {
    "link to a sibling file": [("model.joblib", FILE, "m"), ("alias", SYM, "model.joblib")],
    "link up and down again": [("code/x.py", FILE, ""), ("code/lib/y", SYM, "../x.py")],
    "chain that stays inside": [("a/b", DIR, ""), ("a/b/up", SYM, ".."), ("l", SYM, "a/b/up/b")],
    "dangling link inside": [("later", SYM, "not/there")],
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_archives_are_refused_by_inspect_and_extraction_alike(tmp_path: Path, name: str) -> None:
    inspected, extracted = verdicts(tmp_path, CASES[name])
    assert inspected is not None and extracted is not None, (inspected, extracted)
    assert inspected == extracted  # one judgement, one message


@pytest.mark.parametrize("name", list(SAFE))
def test_safe_archives_pass_both(tmp_path: Path, name: str) -> None:
    assert verdicts(tmp_path, SAFE[name]) == (None, None)


def test_the_refusal_names_the_link(tmp_path: Path) -> None:
    source = make_archive(tmp_path / "chain.tar.gz", CASES["chain through a link to .."])
    with pytest.raises(UnsafeArchive) as caught:
        inspect_archive(source)
    assert caught.value.member == "l2"
    assert "outside" in caught.value.reason


# Every archive of two symlinks over a few names, with targets that go up, down and through each
# other: both orders of every chain, loops, and links through links.
LINK_NAMES = ["a", "b", "a/b"]
LINK_TARGETS = [".", "..", "a", "a/..", "b/..", "a/b/..", "a/b"]


def test_every_pair_of_links_gets_one_verdict_and_nothing_accepted_leads_out(tmp_path: Path) -> None:
    links = [(name, SYM, target) for name in LINK_NAMES for target in LINK_TARGETS]
    disagreements = []
    for index, first in enumerate(links):
        for second in links:
            if first[0] == second[0]:
                continue
            case_dir = tmp_path / f"{index}-{second[0].replace('/', '_')}-{LINK_TARGETS.index(second[2])}"
            case_dir.mkdir()
            inspected, extracted = verdicts(case_dir, [first, second])
            if (inspected is None) != (extracted is None):
                disagreements.append((first, second, inspected, extracted))
    assert not disagreements
