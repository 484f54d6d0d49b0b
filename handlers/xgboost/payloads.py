"""Request bodies to rows, as AWS's built-in XGBoost container reads them. Pure functions.

Rows are a 2-D float64 NumPy array (CSV, dense RecordIO, JSON) or a CSR matrix (libsvm, sparse
RecordIO), where NaN or an absent entry is a missing value. An empty body is zero rows: AWS's container
answers it with 204 and no body, and the handler answers 200 with no body (see output.encode).

The content types and their spellings are AWS's (aws/sagemaker-xgboost-container 1.7-1,
data_utils.py get_content_type): `text/csv` or `csv` (a `label_size` parameter only if it is 1),
`text/libsvm`, `text/x-libsvm` or `libsvm`, `application/x-recordio-protobuf` or `recordio-protobuf`,
and no Content-Type at all reads as libsvm. JSON and JSON Lines are this handler's extension. A body that
cannot be read is a 415 saying where, as AWS's container answers 415 to every parse failure.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import numpy as np
import orjson
import scipy.sparse

from container.codecs import decode, mediatypes
from container.errors import BadRequest, UnsupportedMediaType
from handlers.xgboost import libsvm, recordio

CSV = "text/csv"
LIBSVM = "text/libsvm"
RECORDIO = "application/x-recordio-protobuf"
JSON = mediatypes.JSON
JSONLINES = mediatypes.JSONLINES

# Every spelling AWS's container accepts, and the extension's, to the canonical type.
CONTENT_TYPES = {
    "text/csv": CSV,
    "csv": CSV,
    "text/libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    "libsvm": LIBSVM,
    "application/x-recordio-protobuf": RECORDIO,
    "recordio-protobuf": RECORDIO,
    JSON: JSON,
    JSONLINES: JSONLINES,
    **{alias: JSONLINES for alias, canonical in mediatypes.ALIASES.items() if canonical == JSONLINES},
}
SUPPORTED = [CSV, LIBSVM, "text/x-libsvm", RECORDIO, JSON, JSONLINES]
# What bytes.strip() removes: AWS strips the body before splitting it into lines.
ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
# csv.Sniffer's preference among candidate delimiters (CPython Lib/csv.py, Sniffer.preferred).
PREFERRED_DELIMITERS = (",", "\t", ";", " ", ":")
SNIFF_CHARS = 512
# The widest sparse row read: far beyond any model (the row is refused later if wider than the model's),
# and within the index type of SciPy's sparse matrices.
MAX_WIDTH = 2**31 - 1
# A comma-separated body of nothing but numbers: valid JSON inside brackets, which orjson reads several
# times faster than NumPy converts strings. Anything else (empty fields, letters, quotes) takes the
# general path, which reads exactly what AWS's container reads.
PLAIN_NUMBERS = re.compile(r"[0-9eE.+\-,\s]*")

Rows = np.ndarray | scipy.sparse.csr_matrix


def content_type_of(header: str | None) -> tuple[str, dict[str, str]]:
    """The canonical request type and its parameters; 415 for a type AWS's container does not read."""
    if header is None or not header.strip():
        return LIBSVM, {}  # AWS: data_utils.get_content_type(None) is libsvm
    main, _, rest = header.partition(";")
    essence = main.strip().lower()
    params = {}
    for item in rest.split(";"):
        name, eq, value = item.partition("=")
        if eq:
            params[name.strip().lower()] = value.strip().strip('"')
    canonical = CONTENT_TYPES.get(essence)
    if canonical is None:
        raise UnsupportedMediaType(
            f"Content-Type {essence!r} is not supported; send one of {', '.join(SUPPORTED)}",
            supported=SUPPORTED,
        )
    if canonical == CSV and params.get("label_size", "1") != "1":
        raise UnsupportedMediaType(
            f"{header.strip()!r}: inference rows carry no label, so label_size may only be 1",
            code="invalid_label_size",
        )
    return canonical, params


def parse(body: bytes | str, content_type: str, params: dict[str, str] | None = None) -> Rows:
    """The rows of `body`, which is of the canonical `content_type` (see content_type_of)."""
    if content_type == CSV:
        text = body if isinstance(body, str) else _utf8(body, (params or {}).get("charset"))
        return parse_csv(text)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw.strip():
        return empty_rows()
    if content_type == LIBSVM:
        return libsvm.parse(raw)
    if content_type == RECORDIO:
        return parse_recordio(raw)
    return _parse_json(raw, content_type)


def empty_rows() -> np.ndarray:
    return np.empty((0, 0), dtype=np.float64)


# --- CSV ----------------------------------------------------------------------------------------


def parse_csv(text: str) -> np.ndarray:
    """CSV rows as AWS's encoder.csv_to_dmatrix reads them.

    The body is stripped, split into lines on LF, and each line on the delimiter csv.Sniffer finds in
    the first 512 characters of the first line (a comma when it finds a letter or digit); an empty field
    is a missing value. No header, no quoting, no label column.
    """
    text = text.strip(ASCII_WHITESPACE)
    if not text:
        return empty_rows()
    delimiter = sniff_delimiter(text.partition("\n")[0][:SNIFF_CHARS])
    if delimiter == ",":
        plain = _plain_numbers(text)
        if plain is not None:
            return plain
    rows = [line.split(delimiter) for line in text.split("\n")]
    width = len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise UnsupportedMediaType(
                f"CSV: line {number} has {len(row)} fields, line 1 has {width} (delimiter {delimiter!r})",
                code="ragged_rows",
                line=number,
                expected=width,
                found=len(row),
            )
        if "" in row:
            row[:] = ["nan" if field == "" else field for field in row]
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        raise _not_a_number(rows) from None


def _plain_numbers(text: str) -> np.ndarray | None:
    """The rows of a comma-separated body of plain numbers, read as JSON; None for anything else."""
    if not PLAIN_NUMBERS.fullmatch(text):
        return None
    try:
        rows = np.array(orjson.loads("[[" + text.replace("\n", "],[") + "]]"), dtype=np.float64)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None  # empty fields, ragged rows, numbers JSON spells differently (+1, .5): in general
    return rows if rows.ndim == 2 else None


def sniff_delimiter(sample: str) -> str:
    """csv.Sniffer's delimiter for one line, without its cost in the common case.

    For a single line without quotes, the Sniffer takes every character as an equally consistent
    candidate and returns the first of its preferred delimiters present; only when none is, or quotes
    are, does its full analysis run. AWS's container then replaces a letter or digit with a comma.
    """
    if '"' not in sample and "'" not in sample:
        for candidate in PREFERRED_DELIMITERS:
            if candidate in sample:
                return candidate
    try:
        delimiter = csv.Sniffer().sniff(sample).delimiter
    except csv.Error as exc:
        raise UnsupportedMediaType(
            f"CSV: cannot determine the delimiter of the first line: {exc}", code="invalid_csv"
        ) from None
    return "," if delimiter.isalnum() else delimiter


def _not_a_number(rows: list[list[str]]) -> UnsupportedMediaType:
    for row_number, row in enumerate(rows, start=1):
        for column, field in enumerate(row, start=1):
            try:
                float(field)
            except ValueError:
                return UnsupportedMediaType(
                    f"CSV: row {row_number}, column {column}: {field.strip()[:100]!r} is not a number "
                    "(the rows carry no header and no label)",
                    code="invalid_value",
                    row=row_number,
                    column=column,
                )
    return UnsupportedMediaType("CSV: the fields are not numbers", code="invalid_value")


def _utf8(body: bytes, charset: str | None) -> str:
    return mediatypes.decode_text(body, mediatypes.MediaType("text", "csv", {"charset": charset or "utf-8"}))


# --- RecordIO-protobuf --------------------------------------------------------------------------


def parse_recordio(body: bytes) -> Rows:
    """Rows from Records' features["values"]: dense rows stack, any sparse row makes a CSR matrix.

    Labels are ignored, as AWS's container ignores them (encoder.recordio_protobuf_to_dmatrix).
    """
    try:
        return _recordio_rows(body)
    except recordio.RecordIOError as exc:
        raise UnsupportedMediaType(str(exc), code="invalid_recordio") from None


def _recordio_rows(body: bytes) -> Rows:
    dense: list[Any] = []
    sparse: list[tuple[Any, Any, int]] = []
    for index, payload in enumerate(recordio.split_records(body)):
        tensor = recordio.tensor_of(recordio.parse_record(payload, index), index)
        values = np.asarray(tensor.values, dtype=np.float64)
        if len(tensor.keys):
            if len(tensor.keys) != len(values):
                raise recordio.RecordIOError(
                    f"RecordIO-protobuf: record {index + 1} has {len(tensor.keys)} keys for "
                    f"{len(values)} values"
                )
            # keys and shape are uint64: compared as Python ints before NumPy sees them.
            largest = max(tensor.keys)
            width = int(tensor.shape[0]) if len(tensor.shape) else largest + 1
            if width > MAX_WIDTH:
                raise recordio.RecordIOError(
                    f"RecordIO-protobuf: record {index + 1} is {width} columns wide; at most "
                    f"{MAX_WIDTH} are read"
                )
            if largest >= width:
                raise recordio.RecordIOError(
                    f"RecordIO-protobuf: record {index + 1}: key {largest} is past its width {width}"
                )
            sparse.append((np.asarray(tensor.keys, dtype=np.int64), values, width))
            dense.append(None)
        else:
            dense.append(values)
    if not dense:
        return empty_rows()
    if sparse:
        return _sparse_rows(dense, sparse)
    widths = {len(row) for row in dense}
    if len(widths) > 1:
        raise recordio.RecordIOError(
            "RecordIO-protobuf: the dense records have different lengths "
            f"({', '.join(map(str, sorted(widths)))})"
        )
    return np.vstack(dense)


def _sparse_rows(dense: list[Any], sparse: list[tuple[Any, Any, int]]) -> scipy.sparse.csr_matrix:
    width = max([w for _, _, w in sparse] + [len(row) for row in dense if row is not None])
    indptr, indices, data = [0], [], []
    pending = iter(sparse)
    for row in dense:
        if row is None:
            keys, values, _ = next(pending)
        else:  # a dense row among sparse ones: every value is present
            keys, values = np.arange(len(row)), row
        indices.append(keys)
        data.append(values)
        indptr.append(indptr[-1] + len(keys))
    return scipy.sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.asarray(indptr)), shape=(len(dense), width)
    )


# --- JSON and JSON Lines (this handler's extension) ----------------------------------------------


def _parse_json(body: bytes, content_type: str) -> np.ndarray:
    rows = decode.decode_body(body, mediatypes.MediaType(*content_type.split("/")))
    if rows.ndim != 2:
        raise BadRequest(
            f"expected rows of numbers (a 2-D array), got an array of shape {list(rows.shape)}",
            code="invalid_shape",
            found=list(rows.shape),
        )
    if rows.dtype.kind == "f":
        return rows
    try:
        return rows.astype(np.float64)
    except (TypeError, ValueError):
        pass
    for (row, column), value in np.ndenumerate(rows):
        try:
            float(value if value is not None else "nan")
        except (TypeError, ValueError):
            raise BadRequest(
                f"row {row + 1}, column {column + 1}: {value!r} is not a number",
                code="invalid_value",
                row=row + 1,
                column=column + 1,
            ) from None
    return np.array([[np.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64)
