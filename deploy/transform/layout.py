"""Which files a local transform reads, and where each one's output goes.

As CreateTransformJob with an S3 prefix: every object under the prefix is input, sub-"folders"
included (an S3 listing by prefix is flat); for each input file F the output is F with ".out"
appended, at the same relative path under the output location ("for every S3 object used as input
... the transformed data with an .out suffix in a corresponding subfolder", API reference,
TransformOutput.S3OutputPath). The SDK's local mode reads only the top level of a directory and
silently skips the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

OUT_SUFFIX = ".out"
FAILURES_FILE = "byoc-transform-failures.jsonl"


class LayoutError(ValueError):
    """The input or output location cannot be used; the message says why."""


@dataclass(frozen=True)
class InputFile:
    path: Path  # where it is read from
    name: str  # relative to the input (POSIX separators): how messages and the output name it
    size: int

    def output_path(self, output_dir: Path) -> Path:
        return output_dir / (self.name + OUT_SUFFIX)


def input_files(source: Path) -> list[InputFile]:
    """A file, or every file under a directory (recursively, in name order)."""
    if source.is_file():
        return [InputFile(source, source.name, source.stat().st_size)]
    if not source.is_dir():
        raise LayoutError(f"--input {source}: no such file or directory")
    found = []
    for directory, subdirectories, names in os.walk(source):
        subdirectories.sort()
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_file():
                found.append(InputFile(path, path.relative_to(source).as_posix(), path.stat().st_size))
    if not found:
        raise LayoutError(f"--input {source}: the directory holds no files")
    return found


def check_output(source: Path, output_dir: Path) -> None:
    """Refuse an output directory inside the input directory (or the input itself)."""
    if not source.is_dir():
        return
    source_resolved, output_resolved = source.resolve(), output_dir.resolve()
    if output_resolved == source_resolved or source_resolved in output_resolved.parents:
        raise LayoutError(
            f"--output {output_dir} is inside --input {source}: a later run would read this run's .out "
            "files as input (on SageMaker, an output prefix under the input prefix does the same)"
        )
