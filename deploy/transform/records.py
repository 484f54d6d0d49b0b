"""Splitting an input file into records, as TransformInput.SplitType says. Pure: bytes in, records out.

    None      the whole file is one record (it is not split)
    Line      one record per line (split on "\\n"); a line holding only blanks is not a record
    RecordIO  MXNet RecordIO: 4-byte magic 0xced7230a, a 4-byte word (3 bits of continuation flag,
              29 bits of length), the data, padding to a multiple of 4 bytes
    TFRecord  8-byte length, 4-byte CRC of the length, the data, 4-byte CRC of the data

A record keeps two forms (SageMaker API reference, TransformInput.SplitType: "padding is removed if
the value of BatchStrategy is set to SingleRecord. Padding is not removed if ... MultiRecord"): its
`data` (the payload alone, what SingleRecord sends) and its `framed` bytes as they are in the file
(what MultiRecord concatenates, so the container can split them again). For lines the two are the
same: the line as it is in the file, its line end included.

Splitting reads the file in chunks and yields records as it goes, so a file of any size is split in
bounded memory. Record numbers start at 1; for lines, `line` is the line number in the file, which
differs from the record number when blank lines were skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
CHUNK_BYTES = 1024 * 1024

RECORDIO_MAGIC = 0xCED7230A
RECORDIO_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
# The continuation flag of a RecordIO part: a whole record, or the first, a middle or the last part
# of a record that MXNet cut where its data held the magic number.
WHOLE, FIRST, MIDDLE, LAST = 0, 1, 2, 3


class SplitError(ValueError):
    """The file is not in the format its SplitType says; the message says where it stops being so."""


@dataclass(frozen=True, slots=True)
class Record:
    number: int  # 1-based, within its file
    data: bytes  # the payload alone (SingleRecord)
    framed: bytes  # as in the file (MultiRecord)
    offset: int  # byte offset of the record in the file
    line: int | None = None  # for SplitType=Line: the line number in the file

    @property
    def where(self) -> str:
        """How a message names this record: by line for text, by number and offset otherwise."""
        if self.line is not None:
            return f"line {self.line}"
        return f"record {self.number} (byte offset {self.offset})"


def split(chunks: Iterable[bytes], split_type: str) -> Iterator[Record]:
    """The records of a file given as a stream of byte chunks."""
    if split_type == "Line":
        return split_lines(chunks)
    if split_type == "RecordIO":
        return split_recordio(chunks)
    if split_type == "TFRecord":
        return split_tfrecord(chunks)
    if split_type == "None":
        return _whole(chunks)
    raise ValueError(f"SplitType {split_type!r}: expected one of {', '.join(SPLIT_TYPES)}")


def read_chunks(path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """A file's bytes in chunks (the one place this module touches a file, for callers' convenience)."""
    with open(path, "rb") as file:
        while chunk := file.read(chunk_bytes):
            yield chunk


def _whole(chunks: Iterable[bytes]) -> Iterator[Record]:
    data = b"".join(chunks)
    yield Record(1, data, data, 0)


def split_lines(chunks: Iterable[bytes]) -> Iterator[Record]:
    number = 0
    line_number = 0
    offset = 0
    pending = b""
    for chunk in chunks:
        pieces = (pending + chunk).split(b"\n")
        pending = pieces.pop()
        for piece in pieces:
            line_number += 1
            line = piece + b"\n"
            if piece.strip():
                number += 1
                yield Record(number, line, line, offset, line_number)
            offset += len(line)
    if pending.strip():  # the last line, without a line end
        yield Record(number + 1, pending, pending, offset, line_number + 1)


class _Reader:
    """Exact reads from a stream of chunks, for the binary formats."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.buffer = bytearray()
        self.offset = 0  # bytes consumed so far

    def read(self, size: int) -> bytes | None:
        """Exactly `size` bytes; None at a clean end of the stream; SplitError at a truncated one."""
        while len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                if not self.buffer:
                    return None
                raise SplitError(
                    f"the file ends inside a record: {len(self.buffer)} bytes at offset {self.offset}, "
                    f"where {size} were expected"
                )
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.offset += size
        return data


def split_recordio(chunks: Iterable[bytes]) -> Iterator[Record]:
    reader = _Reader(chunks)
    number = 0
    parts: list[bytes] = []
    framed = bytearray()
    start = 0
    while True:
        part_offset = reader.offset
        header = reader.read(8)
        if header is None:
            if parts:
                raise SplitError(f"the file ends inside a RecordIO record that starts at offset {start}")
            return
        magic, word = struct.unpack("<II", header)
        if magic != RECORDIO_MAGIC:
            raise SplitError(
                f"no RecordIO magic number at offset {part_offset} (found {header[:4].hex()}): "
                "is this file RecordIO?"
            )
        flag, length = word >> 29, word & ((1 << 29) - 1)
        padding = (4 - length % 4) % 4
        body = reader.read(length + padding) if length + padding else b""
        if body is None:
            raise SplitError(f"the file ends inside the RecordIO record at offset {part_offset}")
        data = body[:length]
        if flag in (WHOLE, FIRST):
            if parts:
                raise SplitError(
                    f"a RecordIO record starts at offset {part_offset} before the last one ended"
                )
            start = part_offset
        elif not parts:
            raise SplitError(f"a RecordIO continuation at offset {part_offset} follows no first part")
        parts.append(data)
        framed += header + body
        if flag in (WHOLE, LAST):
            number += 1
            # MXNet cuts a record where its data holds the magic number, and puts it back on reading.
            yield Record(number, RECORDIO_MAGIC_BYTES.join(parts), bytes(framed), start)
            parts, framed = [], bytearray()
        elif flag not in (FIRST, MIDDLE):
            raise SplitError(f"RecordIO continuation flag {flag} at offset {part_offset} is not 0-3")


def split_tfrecord(chunks: Iterable[bytes]) -> Iterator[Record]:
    reader = _Reader(chunks)
    number = 0
    while True:
        offset = reader.offset
        header = reader.read(12)
        if header is None:
            return
        (length,) = struct.unpack("<Q", header[:8])
        rest = reader.read(length + 4)
        if rest is None:
            raise SplitError(f"the file ends inside the TFRecord at offset {offset}")
        number += 1
        yield Record(number, rest[:length], header + rest, offset)
