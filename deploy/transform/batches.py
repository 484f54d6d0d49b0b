"""Packing records into requests (mini-batches), as BatchStrategy and MaxPayloadInMB say. Pure.

SageMaker API reference, CreateTransformJob:
- BatchStrategy `SingleRecord`: one record per request; `MultiRecord`: "the maximum number of
  records in each request, up to the MaxPayloadInMB limit". Records of different files never share a
  request (each file is processed on its own).
- MaxPayloadInMB: "must be greater than, or equal to, the size of a single record"; a record larger
  than the limit is an error (batch transform troubleshooting: "a single record exceeds the limit").
  Sizes are counted in bytes of what is sent (1 MB = 1024 * 1024 bytes, as AWS's toolkits and the
  SDK count it), not in Python object sizes as the SDK's local mode does (sys.getsizeof).
- MaxPayloadInMB `0`: "the payload might be arbitrarily large and is transmitted using HTTP chunked
  encoding": no limit; MultiRecord then sends every record of the file in one streamed request.

SplitType None makes the whole file one record, so one request, whatever the strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from deploy.transform.records import Record

MIB = 1024 * 1024
STRATEGIES = ("MultiRecord", "SingleRecord")


class RecordTooLarge(ValueError):
    """One record does not fit in MaxPayloadInMB; the message says what to change."""

    def __init__(self, record: Record, size: int, max_payload_mb: int, split_type: str) -> None:
        self.record = record
        self.size = size
        if split_type == "None":
            limit = f"MaxPayloadInMB={max_payload_mb} ({max_payload_mb * MIB} bytes)"
            what = f"the file is {size} bytes, more than {limit}"
            advice = (
                "split it into records (--split-type Line for CSV and JSON Lines), raise --max-payload "
                "(at most 100), or stream it with --max-payload 0"
            )
        else:
            what = (
                f"{record.where} is {size} bytes, more than MaxPayloadInMB={max_payload_mb} "
                f"({max_payload_mb * MIB} bytes)"
            )
            advice = "raise --max-payload (at most 100), or stream requests with --max-payload 0"
        super().__init__(f"{what}: {advice}")


class RecordRejected(ValueError):
    """A record that cannot be sent at all (its InputFilter does not fit it)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """One request: the records it carries and the bytes it sends.

    A `rejected` batch is never sent: it holds one record that could not be made into a payload,
    kept in its place in the file's order so that it can be marked in the output (--keep-going).
    """

    index: int  # 0-based, within its file
    records: tuple[Record, ...]
    payload: bytes
    rejected: str | None = None

    @property
    def first(self) -> Record:
        return self.records[0]

    @property
    def last(self) -> Record:
        return self.records[-1]

    @property
    def where(self) -> str:
        if len(self.records) == 1:
            return self.first.where
        if self.first.line is not None and self.last.line is not None:
            return f"lines {self.first.line}-{self.last.line} ({len(self.records)} records)"
        return f"records {self.first.number}-{self.last.number}"


def limit_bytes(max_payload_mb: int) -> int | None:
    """The payload limit in bytes; None for 0 (stream, no limit)."""
    return None if max_payload_mb == 0 else max_payload_mb * MIB


def pack(
    records: Iterable[Record],
    strategy: str,
    max_payload_mb: int,
    split_type: str = "Line",
    payload_of: Callable[[Record], bytes] | None = None,
    isolate_rejected: bool = False,
) -> Iterator[Batch]:
    """The requests for one file's records, in order.

    `payload_of(record) -> bytes` gives what a record contributes to a request (a filtered form, for
    DataProcessing's InputFilter); by default its `data` alone for SingleRecord and its bytes as
    framed in the file for MultiRecord. With MaxPayloadInMB=0 and MultiRecord the one request holds
    the whole file: the runner streams that case instead of packing it (see deploy.transform.engine).

    A record whose `payload_of` raises RecordRejected stops the packing (the exception propagates),
    or, with `isolate_rejected`, ends the batch being packed and comes as a rejected batch of its own.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"BatchStrategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    limit = limit_bytes(max_payload_mb)
    single = strategy == "SingleRecord" or split_type == "None"
    if payload_of is None:
        payload_of = _data if single else _framed
    index = 0
    pending: list[Record] = []
    parts: list[bytes] = []
    size = 0
    for record in records:
        try:
            part = payload_of(record)
        except RecordRejected as exc:
            if not isolate_rejected:
                raise
            if pending:
                yield Batch(index, tuple(pending), b"".join(parts))
                index += 1
                pending, parts, size = [], [], 0
            yield Batch(index, (record,), b"", rejected=str(exc))
            index += 1
            continue
        if limit is not None and len(part) > limit:
            raise RecordTooLarge(record, len(part), max_payload_mb, split_type)
        if single:
            yield Batch(index, (record,), part)
            index += 1
            continue
        if limit is not None and size + len(part) > limit and pending:
            yield Batch(index, tuple(pending), b"".join(parts))
            index += 1
            pending, parts, size = [], [], 0
        pending.append(record)
        parts.append(part)
        size += len(part)
    if pending:
        yield Batch(index, tuple(pending), b"".join(parts))


def _data(record: Record) -> bytes:
    return record.data


def _framed(record: Record) -> bytes:
    return record.framed
