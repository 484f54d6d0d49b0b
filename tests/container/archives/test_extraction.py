"""Safe extraction against hostile archives crafted here, member by member."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from container.archives import extraction as archive
from container.archives.extraction import ArchiveError, Limits, UnsafeArchive, list_entries, safe_extract
from container.config import ConfigError, load_archive_limits


def make_archive(path: Path, members: list[dict]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for spec in members:
            info = tarfile.TarInfo(spec["name"])
            info.type = spec.get("type", tarfile.REGTYPE)
            info.linkname = spec.get("link", "")
            info.mode = spec.get("mode", 0o644)
            data = spec.get("data", b"")
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def refused(
    tmp_path: Path, members: list[dict], limits: Limits | None = None
) -> UnsafeArchive | ArchiveError:
    source = make_archive(tmp_path / "hostile.tar.gz", members)
    destination = tmp_path / "out"
    with pytest.raises((UnsafeArchive, ArchiveError)) as caught:
        safe_extract(source, destination, limits)
    # Nothing half-written: no destination, no staging directory left beside it.
    assert not destination.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["hostile.tar.gz"]
    return caught.value


def test_a_well_formed_archive_is_extracted_with_links_inside(tmp_path):
    source = make_archive(
        tmp_path / "ok.tar.gz",
        [
            {"name": "model.joblib", "data": b"model"},
            {"name": "code", "type": tarfile.DIRTYPE, "mode": 0o755},
            {"name": "code/inference.py", "data": b"print()", "mode": 0o4755},
            {"name": "code/alias.py", "type": tarfile.SYMTYPE, "link": "inference.py"},
            {"name": "copy.joblib", "type": tarfile.LNKTYPE, "link": "model.joblib"},
        ],
    )
    entries = safe_extract(source, tmp_path / "out")
    out = tmp_path / "out"
    assert [(e.name, e.kind) for e in entries] == [
        ("model.joblib", "file"),
        ("code", "dir"),
        ("code/inference.py", "file"),
        ("code/alias.py", "symlink"),
        ("copy.joblib", "hardlink"),
    ]
    assert (out / "code" / "alias.py").read_text() == "print()"
    assert (out / "copy.joblib").read_bytes() == b"model"
    assert not (out / "copy.joblib").samefile(out / "model.joblib")  # a copy, not a shared inode
    assert (out / "code" / "inference.py").stat().st_mode & 0o7777 == 0o755  # set-uid dropped


@pytest.mark.parametrize(
    ("members", "bad_member", "reason"),
    [
        ([{"name": "/etc/cron.d/evil", "data": b"x"}], "/etc/cron.d/evil", "absolute path"),
        ([{"name": "code/../../evil", "data": b"x"}], "code/../../evil", "outside the destination"),
        ([{"name": "..", "type": tarfile.DIRTYPE}], "..", "outside the destination"),
        ([{"name": "C:/evil", "data": b"x"}], "C:/evil", "absolute path"),
        ([{"name": "up", "type": tarfile.SYMTYPE, "link": "../../etc"}], "up", "leads outside"),
        ([{"name": "root", "type": tarfile.SYMTYPE, "link": "/etc"}], "root", "absolute path"),
        ([{"name": "a/b/up", "type": tarfile.SYMTYPE, "link": "../../../x"}], "a/b/up", "leads outside"),
        ([{"name": "pw", "type": tarfile.LNKTYPE, "link": "/etc/passwd"}], "pw", "hard link"),
        ([{"name": "pw", "type": tarfile.LNKTYPE, "link": "../outside"}], "pw", "hard link"),
        ([{"name": "dev", "type": tarfile.CHRTYPE}], "dev", "device file"),
        ([{"name": "disk", "type": tarfile.BLKTYPE}], "disk", "device file"),
        ([{"name": "pipe", "type": tarfile.FIFOTYPE}], "pipe", "FIFO"),
        (
            [{"name": "model.joblib", "data": b"good"}, {"name": "./model.joblib", "data": b"evil"}],
            "./model.joblib",
            "appears twice",
        ),
        (
            [{"name": "link", "type": tarfile.SYMTYPE, "link": "dir"}, {"name": "link/x", "data": b"x"}],
            "link/x",
            "is a symlink",
        ),
        ([{"name": "h", "type": tarfile.LNKTYPE, "link": "not-yet"}], "h", "not a file before it"),
    ],
)
def test_hostile_members_are_refused_by_name(tmp_path, members, bad_member, reason):
    error = refused(tmp_path, members)
    assert isinstance(error, UnsafeArchive)
    assert error.member == bad_member
    assert reason in str(error)


def test_escape_through_a_symlinked_parent_is_refused_even_when_the_link_looks_harmless(tmp_path):
    # "d" points inside, but a later member replacing "d" with a link out must not be written through.
    error = refused(
        tmp_path,
        [
            {"name": "d", "type": tarfile.SYMTYPE, "link": "."},
            {"name": "d/../../escape", "data": b"x"},
        ],
    )
    assert "outside" in str(error) or "symlink" in str(error)


def test_a_size_bomb_stops_at_the_byte_cap(tmp_path):
    members = [{"name": f"part{i}", "data": b"\0" * 4096} for i in range(4)]
    error = refused(tmp_path, members, Limits(max_bytes=10_000, max_members=100))
    assert isinstance(error, ArchiveError)
    assert "more than 10000 bytes" in str(error) and "part2" in str(error)


def test_a_member_count_bomb_stops_at_the_member_cap(tmp_path):
    members = [{"name": f"f{i}", "data": b""} for i in range(50)]
    error = refused(tmp_path, members, Limits(max_bytes=10**9, max_members=20))
    assert "more than 20 members" in str(error)


def test_limits_come_from_the_environment_and_bad_values_are_named():
    limits = load_archive_limits({archive.MAX_BYTES_ENV: "123", archive.MAX_MEMBERS_ENV: "7"})
    assert limits == Limits(123, 7)
    with pytest.raises(ConfigError, match=archive.MAX_BYTES_ENV):
        load_archive_limits({archive.MAX_BYTES_ENV: "lots"})


def test_not_an_archive_and_a_truncated_one_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        list_entries(junk)
    whole = make_archive(tmp_path / "whole.tar.gz", [{"name": "m", "data": bytes(range(256)) * 400}])
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    with pytest.raises(ArchiveError, match="damaged"):
        safe_extract(cut, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_non_empty_destination_is_refused(tmp_path):
    source = make_archive(tmp_path / "ok.tar.gz", [{"name": "m", "data": b"x"}])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("mine")
    with pytest.raises(ArchiveError, match="not an empty directory"):
        safe_extract(source, tmp_path / "out")
    assert (tmp_path / "out" / "keep").read_text() == "mine"


def test_list_entries_checks_without_writing(tmp_path):
    source = make_archive(tmp_path / "a.tar.gz", [{"name": "x/../../y", "data": b"x"}])
    with pytest.raises(UnsafeArchive):
        list_entries(source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz"]


def test_the_dot_entry_that_tar_writes_first_is_the_root_itself(tmp_path):
    # `tar -C DIR -czf model.tar.gz .` starts with "./" and names members "./model.joblib".
    source = make_archive(
        tmp_path / "dot.tar.gz",
        [
            {"name": ".", "type": tarfile.DIRTYPE, "mode": 0o700},
            {"name": "./model.joblib", "data": b"model"},
            {"name": "./code", "type": tarfile.DIRTYPE},
            {"name": "./code/inference.py", "data": b""},
        ],
    )
    entries = safe_extract(source, tmp_path / "out")
    assert [e.name for e in entries] == [".", "model.joblib", "code", "code/inference.py"]
    assert (tmp_path / "out" / "model.joblib").read_bytes() == b"model"
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755  # readable by whoever serves it


def test_catching_archive_error_is_enough_for_every_refusal():
    # Callers catch one exception type; an unsafe member must not slip past it.
    assert issubclass(UnsafeArchive, ArchiveError)
