"""Packing records into requests (BatchStrategy, MaxPayloadInMB), counted in bytes.

Contract: SageMaker API reference, CreateTransformJob.BatchStrategy and .MaxPayloadInMB ("must be
greater than, or equal to, the size of a single record"; 0 for payloads "transmitted using HTTP
chunked encoding"); batch transform troubleshooting (a record over the limit is an error).
"""

from __future__ import annotations

import pytest

from deploy.transform import batches, records
from deploy.transform.batches import RecordRejected, RecordTooLarge, pack

MIB = 1024 * 1024


def lines(*sizes: int) -> list[records.Record]:
    """Records of exactly these sizes (line end included; 2 at least, as "\n" alone is a blank line)."""
    data = b"".join(b"x" * (size - 1) + b"\n" for size in sizes)
    return list(records.split([data], "Line"))


def sizes_of(found: list[batches.Batch]) -> list[list[int]]:
    return [[len(r.data) for r in batch.records] for batch in found]


def test_multirecord_fills_each_request_up_to_the_limit_in_bytes() -> None:
    found = list(pack(lines(600_000, 448_576, 2, 1_048_576, 10, 20), "MultiRecord", 1))
    # 600,000 + 448,576 is exactly 1 MiB: a request may be as large as the limit, not one byte more.
    assert sizes_of(found) == [[600_000, 448_576], [2], [1_048_576], [10, 20]]
    assert [batch.index for batch in found] == [0, 1, 2, 3]
    assert all(batch.payload == b"".join(r.framed for r in batch.records) for batch in found)
    assert found[0].where == "lines 1-2 (2 records)"


def test_sizes_are_bytes_not_python_object_sizes() -> None:
    # The SDK's local mode measures sys.getsizeof(str): 49 more per ASCII line, and two to four
    # bytes per character for other text, so it splits far below the limit. Bytes are what is sent.
    text = ("é" * 100 + "\n").encode()  # 201 bytes of UTF-8
    data = text * 5216  # 1,048,416 bytes: under 1 MiB
    (batch,) = pack(records.split([data], "Line"), "MultiRecord", 1)
    assert len(batch.records) == 5216 and len(batch.payload) == 1_048_416


def test_singlerecord_sends_each_record_alone() -> None:
    found = list(pack(lines(5, 6, 7), "SingleRecord", 6))
    assert sizes_of(found) == [[5], [6], [7]]
    assert found[2].where == "line 3"


def test_a_record_over_the_limit_is_an_error_with_advice() -> None:
    # The SDK's local mode yields an empty payload first in this case, and never checks oversize
    # records in the middle of a batch; here the record is named and the fix is said.
    with pytest.raises(
        RecordTooLarge, match=r"line 2 is 1048577 bytes, more than MaxPayloadInMB=1 \(1048576 bytes\)"
    ):
        list(pack(lines(10, MIB + 1, 2), "MultiRecord", 1))
    with pytest.raises(RecordTooLarge, match=r"raise --max-payload .* --max-payload 0"):
        list(pack(lines(MIB + 1), "SingleRecord", 1))


def test_an_unsplit_file_is_one_request_and_may_not_exceed_the_limit() -> None:
    data = b"a\n" * 10
    (batch,) = pack(records.split([data], "None"), "MultiRecord", 6, split_type="None")
    assert batch.payload == data
    big = b"x" * (MIB + 1)
    with pytest.raises(RecordTooLarge, match=r"file is 1048577 bytes.*--split-type Line.*--max-payload 0"):
        list(pack(records.split([big], "None"), "SingleRecord", 1, split_type="None"))


def test_zero_means_no_limit() -> None:
    found = list(pack(lines(MIB * 2, 10), "MultiRecord", 0))
    assert sizes_of(found) == [[MIB * 2, 10]]
    assert batches.limit_bytes(0) is None and batches.limit_bytes(6) == 6 * MIB


def test_singlerecord_sends_data_multirecord_sends_framed_records() -> None:
    framed = records.Record(1, b"data", b"HEADdataPAD", 0)
    assert next(pack([framed], "SingleRecord", 6, "RecordIO")).payload == b"data"
    assert next(pack([framed], "MultiRecord", 6, "RecordIO")).payload == b"HEADdataPAD"


def test_rejected_records_stop_packing_or_come_alone() -> None:
    def payload_of(record: records.Record) -> bytes:
        if record.data.startswith(b"bad"):
            raise RecordRejected("no such column")
        return record.data

    data = list(records.split([b"a\nb\nbad\nc\n"], "Line"))
    with pytest.raises(RecordRejected):
        list(pack(data, "MultiRecord", 6, payload_of=payload_of))
    found = list(pack(data, "MultiRecord", 6, payload_of=payload_of, isolate_rejected=True))
    assert [(b.index, [r.number for r in b.records], b.rejected) for b in found] == [
        (0, [1, 2], None),
        (1, [3], "no such column"),
        (2, [4], None),
    ]


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="expected one of MultiRecord, SingleRecord"):
        list(pack(lines(3), "MULTI_RECORD", 6))
