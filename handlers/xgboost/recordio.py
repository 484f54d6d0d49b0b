"""SageMaker's RecordIO-protobuf: the framing, and the `aialgs.data.Record` message. Pure functions.

The wire format, as SageMaker's writers produce it and its algorithms read it:

- RecordIO framing (MXNet/dmlc-core, `include/dmlc/recordio.h`): each record is a little-endian uint32
  magic 0xCED7230A, a little-endian uint32 whose low 29 bits are the payload length and whose top 3 bits
  say whether the record is whole (0) or the start (1), a middle part (2) or the end (3) of one that the
  writer split where the magic number occurred inside it; then the payload, zero-padded to 4 bytes.
  SageMaker's Python writers never split; dmlc's reader joins the parts with the magic bytes between
  them, and so does this one.
- The payload is a `Record` protobuf message (aws/sagemaker-python-sdk v2,
  src/sagemaker/amazon/record.proto; `syntax = "proto2"`, `package aialgs.data`): `features` and
  `label` are maps from a name to a `Value`, which holds one tensor (Float32Tensor, Float64Tensor,
  Int32Tensor: repeated `values`, `keys` and `shape`; or Bytes). A dense row has no keys; a sparse one
  has the column of each value in `keys` and the row's width in `shape`.

No well-kept package parses this without pulling in the whole SageMaker SDK (sagemaker 2.x; 3.x dropped
it) or an unmaintained one (sagemaker-containers needs protobuf <= 3.20). So the five messages are
declared here through protobuf's own descriptor API and compiled by the protobuf runtime at import: no
generated code to keep in step with the protobuf version, and a private descriptor pool, so a process that
also imports the SDK's record_pb2 (which registers the same names) sees no clash.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
LENGTH_BITS = 29
LENGTH_MASK = (1 << LENGTH_BITS) - 1
HEADER = struct.Struct("<II")
# The continuation flag of a record that dmlc's writer split (see the module docstring).
WHOLE, START, MIDDLE, END = 0, 1, 2, 3
FEATURES_KEY = "values"

_F = descriptor_pb2.FieldDescriptorProto


class RecordIOError(ValueError):
    """The bytes are not RecordIO-protobuf; the message says where and why."""


def _tensor(name: str, value_type: int) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    for number, field, field_type in (
        (1, "values", value_type),
        (2, "keys", _F.TYPE_UINT64),
        (3, "shape", _F.TYPE_UINT64),
    ):
        declared = message.field.add(name=field, number=number, type=field_type, label=_F.LABEL_REPEATED)
        declared.options.packed = True
    return message


def _map_entry(name: str) -> descriptor_pb2.DescriptorProto:
    entry = descriptor_pb2.DescriptorProto(name=name)
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    entry.field.add(
        name="value", number=2, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL, type_name=".aialgs.data.Value"
    )
    return entry


def _record_file() -> descriptor_pb2.FileDescriptorProto:
    """record.proto, field for field (names, numbers, types, packing)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="byoc/aialgs/data/record.proto", package="aialgs.data", syntax="proto2"
    )
    file.message_type.append(_tensor("Float32Tensor", _F.TYPE_FLOAT))
    file.message_type.append(_tensor("Float64Tensor", _F.TYPE_DOUBLE))
    file.message_type.append(_tensor("Int32Tensor", _F.TYPE_INT32))
    raw = file.message_type.add(name="Bytes")
    raw.field.add(name="value", number=1, type=_F.TYPE_BYTES, label=_F.LABEL_REPEATED)
    raw.field.add(name="content_type", number=2, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    value = file.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    for number, field, message_name in (
        (2, "float32_tensor", "Float32Tensor"),
        (3, "float64_tensor", "Float64Tensor"),
        (7, "int32_tensor", "Int32Tensor"),
        (9, "bytes", "Bytes"),
    ):
        value.field.add(
            name=field,
            number=number,
            type=_F.TYPE_MESSAGE,
            label=_F.LABEL_OPTIONAL,
            type_name=f".aialgs.data.{message_name}",
            oneof_index=0,
        )
    record = file.message_type.add(name="Record")
    record.nested_type.append(_map_entry("FeaturesEntry"))
    record.nested_type.append(_map_entry("LabelEntry"))
    for number, field, entry in ((1, "features", "FeaturesEntry"), (2, "label", "LabelEntry")):
        record.field.add(
            name=field,
            number=number,
            type=_F.TYPE_MESSAGE,
            label=_F.LABEL_REPEATED,
            type_name=f".aialgs.data.Record.{entry}",
        )
    for number, field in ((3, "uid"), (4, "metadata"), (5, "configuration")):
        record.field.add(name=field, number=number, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_record_file())
Record: type[Message] = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("aialgs.data.Record"))


# --- framing ------------------------------------------------------------------------------------


def split_records(body: bytes) -> Iterator[bytes]:
    """The payload of each record in `body`, split records joined; RecordIOError for bad framing."""
    view = memoryview(body)
    offset = 0
    parts: list[bytes] = []
    while offset < len(view):
        if len(view) - offset < HEADER.size:
            raise RecordIOError(
                f"RecordIO: {len(view) - offset} stray bytes at offset {offset}, too few for a record header"
            )
        magic, word = HEADER.unpack_from(view, offset)
        if magic != MAGIC:
            raise RecordIOError(
                f"RecordIO: no record magic (0x{MAGIC:08X}) at offset {offset}; found 0x{magic:08X}"
            )
        flag, length = word >> LENGTH_BITS, word & LENGTH_MASK
        start = offset + HEADER.size
        if start + length > len(view):
            raise RecordIOError(
                f"RecordIO: the record at offset {offset} declares {length} bytes, but only "
                f"{len(view) - start} follow"
            )
        # The padding of the last record may be missing: nothing follows it that it could misalign.
        offset = min(start + _padded(length), len(view))
        payload = bytes(view[start : start + length])
        if flag == WHOLE and not parts:
            yield payload
        elif flag == START and not parts:
            parts.append(payload)
        elif flag in (MIDDLE, END) and parts:
            parts.append(payload)
            if flag == END:
                yield MAGIC_BYTES.join(parts)
                parts = []
        else:
            raise RecordIOError(
                f"RecordIO: the record at offset {offset} has an out-of-order part flag {flag}"
            )
    if parts:
        raise RecordIOError("RecordIO: the body ends inside a record split into parts")


def frame(payloads: Iterable[bytes]) -> bytes:
    """RecordIO framing of each payload, whole (flag 0) and padded, as SageMaker's writers frame them."""
    out = bytearray()
    for payload in payloads:
        if len(payload) > LENGTH_MASK:
            raise ValueError(f"a RecordIO record holds at most {LENGTH_MASK} bytes; got {len(payload)}")
        out += HEADER.pack(MAGIC, len(payload))
        out += payload
        out += b"\x00" * (_padded(len(payload)) - len(payload))
    return bytes(out)


def _padded(length: int) -> int:
    return (length + 3) & ~3


# --- records ------------------------------------------------------------------------------------


def parse_record(payload: bytes, index: int) -> Message:
    record = Record()
    try:
        record.ParseFromString(payload)
    except DecodeError as exc:
        raise RecordIOError(f"RecordIO-protobuf: record {index + 1} is not a Record message: {exc}") from None
    return record


def tensor_of(record: Message, index: int, key: str = FEATURES_KEY) -> Message:
    """The tensor under features[key]: a Float32Tensor, Float64Tensor or Int32Tensor."""
    if key not in record.features:
        found = ", ".join(sorted(record.features)) or "none"
        raise RecordIOError(
            f"RecordIO-protobuf: record {index + 1} has no features[{key!r}] (features present: {found})"
        )
    value = record.features[key]
    kind = value.WhichOneof("value")
    if kind is None or kind == "bytes":
        raise RecordIOError(
            f"RecordIO-protobuf: features[{key!r}] of record {index + 1} holds "
            f"{'bytes' if kind else 'no tensor'}; expected a float32, float64 or int32 tensor"
        )
    return getattr(value, kind)


def label_record(values: dict[str, Sequence[float]]) -> bytes:
    """One response record: each key's values as a Float32Tensor under `label`, as AWS's container writes."""
    record = Record()
    for key, key_values in values.items():
        record.label[key].float32_tensor.values.extend(key_values)
    return record.SerializeToString()


def dense_record(values: Sequence[float]) -> bytes:
    """A request record holding one dense row (tests and clients)."""
    record = Record()
    record.features[FEATURES_KEY].float64_tensor.values.extend(values)
    return record.SerializeToString()


def sparse_record(keys: Sequence[int], values: Sequence[float], width: int) -> bytes:
    """A request record holding one sparse row: the columns in `keys`, the row's width in shape."""
    record = Record()
    tensor = record.features[FEATURES_KEY].float32_tensor
    tensor.values.extend(values)
    tensor.keys.extend(keys)
    tensor.shape.append(width)
    return record.SerializeToString()
