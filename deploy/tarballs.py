"""model.tar.gz and output.tar.gz of a finished job: a directory's files at the archive's root, as
SageMaker packs /opt/ml/model and /opt/ml/output/data
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-output.html).
Deterministic: sorted names, no owners, a fixed time, so the same model makes the same bytes.
"""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

SKIPPED = ("__pycache__", ".git")  # for a source directory: never the code's own caches


def pack(directory: Path, archive: Path, skip: tuple[str, ...] = ()) -> int:
    """Write `directory`'s contents to `archive` (tar.gz); the number of files packed.

    Names in `skip` (directories or files, at any depth) are left out.
    """
    files = 0
    with (
        open(archive, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as compressed,  # no name, no time
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in _walk(directory, skip):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(directory).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                files += 1
                with open(path, "rb") as content:
                    tar.addfile(info, content)
            else:
                tar.addfile(info)
    return files


def _walk(directory: Path, skip: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for current, dirs, names in os.walk(directory):
        dirs[:] = sorted(name for name in dirs if name not in skip)
        base = Path(current)
        found.extend(base / name for name in dirs)
        found.extend(base / name for name in sorted(names) if name not in skip)
    return sorted(found, key=lambda path: path.relative_to(directory).as_posix())
