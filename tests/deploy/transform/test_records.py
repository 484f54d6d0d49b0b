"""Splitting a file into records (TransformInput.SplitType), in bounded chunks.

Contract: SageMaker API reference, TransformInput.SplitType ("Line to split records on a newline
character boundary"; RecordIO and TFRecord; "padding is removed if ... SingleRecord. Padding is not
removed if ... MultiRecord"). RecordIO's framing: MXNet's dmlc-core recordio format (magic
0xced7230a, 3-bit continuation flag and 29-bit length, data padded to 4 bytes). TFRecord's: length
(uint64), masked CRC32C of the length, data, masked CRC32C of the data.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.transform import records

# Golden RecordIO bytes: "abc" (1 byte of padding), an empty record, "hello world!" (none), and one
# record MXNet cut in two parts (flags 1 then 3) where its data held the magic number.
RECORDIO = bytes.fromhex(
    "0a23d7ce03000000616263000a23d7ce000000000a23d7ce0c00000068656c6c6f20776f726c6421"
    "0a23d7ce04000020414141410a23d7ce0400006042424242"
)
# Golden TFRecord bytes: "first", "", "third record" (the CRC fields are not checked).
TFRECORD = bytes.fromhex(
    "050000000000000011223344666972737455667788000000000000000011223344556677880c00000000000000"
    "112233447468697264207265636f726455667788"
)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def test_lines_keep_their_line_ends_and_skip_blank_lines() -> None:
    data = b"1,2\r\n\n   \n3,4\n5,6"
    found = list(records.split([data], "Line"))
    assert [(r.number, r.line, r.data, r.offset) for r in found] == [
        (1, 1, b"1,2\r\n", 0),
        (2, 4, b"3,4\n", 10),
        (3, 5, b"5,6", 14),
    ]
    assert all(r.framed == r.data for r in found)
    assert found[1].where == "line 4"


# No deadline: a shared machine's pauses are not the splitter's.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([b"a,b", b"", b" ", b"12345", b"x" * 40]), max_size=30), st.integers(1, 17))
def test_any_chunking_gives_the_same_lines(lines: list[bytes], chunk: int) -> None:
    data = b"\n".join(lines)
    whole = list(records.split([data], "Line"))
    assert list(records.split(chunked(data, chunk), "Line")) == whole
    assert b"".join(r.framed for r in whole).replace(b"\n", b"") == b"".join(x for x in lines if x.strip())


def test_none_is_the_whole_file() -> None:
    (record,) = records.split([b"a\n", b"b\n"], "None")
    assert record.data == record.framed == b"a\nb\n"


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_recordio(chunk: int) -> None:
    found = list(records.split(chunked(RECORDIO, chunk), "RecordIO"))
    assert [r.data for r in found] == [b"abc", b"", b"hello world!", b"AAAA" + b"\x0a\x23\xd7\xce" + b"BBBB"]
    assert [r.offset for r in found] == [0, 12, 20, 40]
    # Framed: header, data and padding as in the file, so MultiRecord payloads are the file's bytes.
    assert b"".join(r.framed for r in found) == RECORDIO
    assert found[0].framed == RECORDIO[:12]
    assert found[1].where == "record 2 (byte offset 12)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (RECORDIO[:10], "ends inside a record: 2 bytes at offset 8"),
        (b"\x00\x00\x00\x00" + RECORDIO[4:12], "no RecordIO magic number at offset 0"),
        (RECORDIO[52:], "continuation at offset 0 follows no first part"),
        (RECORDIO[:48], "ends inside the RecordIO record at offset 40"),
        (RECORDIO[:52], "ends inside a RecordIO record that starts at offset 40"),
    ],
)
def test_recordio_errors(data: bytes, message: str) -> None:
    with pytest.raises(records.SplitError, match=message):
        list(records.split([data], "RecordIO"))


@pytest.mark.parametrize("chunk", [1, 5, 1000])
def test_tfrecord(chunk: int) -> None:
    found = list(records.split(chunked(TFRECORD, chunk), "TFRecord"))
    assert [r.data for r in found] == [b"first", b"", b"third record"]
    assert b"".join(r.framed for r in found) == TFRECORD
    with pytest.raises(records.SplitError, match="ends inside a record: 3 bytes at offset 12"):
        list(records.split([TFRECORD[:15]], "TFRecord"))


def test_unknown_split_type() -> None:
    with pytest.raises(ValueError, match="expected one of None, Line, RecordIO, TFRecord"):
        records.split([b""], "Lines")
