"""Request body decoders: bytes or text in, NumPy (or SciPy sparse) out. Pure functions.

Every decoder returns rows: a single row is still 2-D, shape (1, n_features). Anything that is
not what a decoder accepts raises BadRequest naming where it went wrong (line, row, column), so the
client gets a 400 it can act on. Nothing here ever unpickles.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import scipy.sparse

from container.codecs import mediatypes
from container.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_NPZ_UNPACKED_BYTES = 256 * 1024 * 1024
ROW_KEYS = ("instances", "features", "inputs")
# Longest single CSV row decoded without np.loadtxt; longer ones gain nothing from skipping it.
MAX_PLAIN_ROW_CHARS = 16 * 1024
# Deepest list nesting decoded: NumPy iterates over at most 32 dimensions, and a Python recursion
# over a document as deep as orjson allows (1024) would exhaust the stack.
MAX_NESTING = 32
# How a zip archive starts (a local file header, or the end record of an empty archive), as np.load
# tells an .npz from other files.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

Decoder = Callable[[bytes, mediatypes.MediaType], Any]


def decode(body: bytes | str, content_type: str | None) -> Any:
    """Decode a request body according to its Content-Type header (the runtime's input_fn)."""
    media_type = mediatypes.parse_content_type(content_type)
    decoder = _decoder_for(media_type)
    if isinstance(body, str):
        # Already text (the runtime hands JSON and CSV to a user's input_fn as str, as AWS's toolkit
        # does, and such an input_fn may pass it on here): the charset was applied on the way in.
        body = _utf8(body)
        media_type = mediatypes.MediaType(media_type.type, media_type.subtype)
    return _decode_with(decoder, body, media_type)


def decode_body(body: bytes, media_type: mediatypes.MediaType) -> Any:
    """Decode the request's bytes as the (already parsed) `media_type`: no round trip through text."""
    return _decode_with(_decoder_for(media_type), body, media_type)


def _decoder_for(media_type: mediatypes.MediaType) -> Decoder:
    decoder = DECODERS.get(media_type.essence)
    if decoder is None:
        raise UnsupportedMediaType(
            f"Content-Type {media_type.essence!r} is not supported",
            supported=sorted(DECODERS),
        )
    return decoder


def _decode_with(decoder: Decoder, body: bytes, media_type: mediatypes.MediaType) -> Any:
    if not body:
        raise BadRequest("the request body is empty", code="empty_body")
    return decoder(body, media_type)


# --- JSON -------------------------------------------------------------------------------------


def decode_json(body: bytes, media_type: mediatypes.MediaType) -> np.ndarray:
    document = _load_json(_as_json_bytes(body, media_type))
    return rows_to_array(unwrap_rows(document), source="JSON")


def unwrap_rows(document: Any) -> Any:
    """Accept a list of rows, a single row, or {"instances"|"features"|"inputs": rows}."""
    if isinstance(document, dict):
        for key in ROW_KEYS:
            if key in document:
                return _unwrap_instances(document[key])
        raise BadRequest(
            "expected a list of rows, a single row, or an object with one of the keys "
            + ", ".join(repr(k) for k in ROW_KEYS),
            code="invalid_json_shape",
            found_keys=sorted(str(k) for k in document)[:20],
        )
    return _unwrap_instances(document)


def _unwrap_instances(rows: Any) -> Any:
    # {"instances": [{"features": [...]}, ...]} is the SageMaker built-in algorithms' shape.
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        unwrapped = []
        for index, row in enumerate(rows):
            key = next((k for k in ("features", "inputs") if k in row), None)
            if key is None:
                raise BadRequest(
                    f"row {index + 1} is an object without a 'features' key",
                    code="invalid_json_shape",
                    row=index + 1,
                )
            unwrapped.append(row[key])
        return unwrapped
    return rows


def rows_to_array(rows: Any, source: str) -> np.ndarray:
    """A row or list of rows (nested lists of numbers) to a 2-D array; null is NaN."""
    if not isinstance(rows, list):
        raise BadRequest(
            f"{source}: expected a row (a list of values) or a list of rows, got {_json_kind(rows)}",
            code="invalid_shape",
        )
    if not rows:
        raise BadRequest(f"{source}: there are no rows", code="empty_input")
    if not isinstance(rows[0], list):
        rows = [rows]  # a single row stays 2-D
    try:
        return np.array(rows, dtype=np.float64)
    except (ValueError, TypeError):
        pass
    _raise_if_too_deep(rows, source)
    _raise_if_ragged(rows, source)
    # Non-numeric values (strings for text or categorical pipelines): keep them as objects and let
    # the handler decide whether its model takes them.
    try:
        array = np.array(rows, dtype=object)
    except ValueError as exc:
        raise BadRequest(f"{source}: {exc}", code="invalid_shape") from None
    for index, value in np.ndenumerate(array):
        if not isinstance(value, int | float | str | bool) and value is not None:
            raise BadRequest(
                f"{source}: row {index[0] + 1} holds {_json_kind(value)} where a value was expected",
                code="invalid_value",
                row=index[0] + 1,
            )
    return array


def _raise_if_ragged(rows: list, source: str) -> None:
    expected = _shape_of(rows[0])
    for index, row in enumerate(rows):
        shape = _shape_of(row)
        if shape != expected:
            raise BadRequest(
                f"{source}: row {index + 1} has {_describe_shape(shape)}, "
                f"but row 1 has {_describe_shape(expected)}",
                code="ragged_rows",
                row=index + 1,
                expected=expected[0] if len(expected) == 1 else list(expected),
                found=shape[0] if len(shape) == 1 else list(shape),
            )


def _raise_if_too_deep(rows: list, source: str) -> None:
    # Iterative, so that the check itself cannot exhaust the stack.
    stack = [(rows, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise BadRequest(
                f"{source}: lists are nested more than {MAX_NESTING} deep",
                code="invalid_shape",
                max_depth=MAX_NESTING,
            )
        stack.extend((item, depth + 1) for item in value if isinstance(item, list))


def _shape_of(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    inner = _shape_of(value[0])
    return (len(value), *inner)


def _describe_shape(shape: tuple[int, ...]) -> str:
    if not shape:
        return "a single value instead of a list"
    if len(shape) == 1:
        return f"{shape[0]} values"
    return "shape " + "x".join(str(s) for s in shape)


def _as_json_bytes(body: bytes, media_type: mediatypes.MediaType) -> bytes:
    # Decoding with the charset, UTF-8 included, makes bytes that are not valid in it a 400
    # invalid_encoding naming the offset, as for CSV, rather than an orjson parse error.
    text = mediatypes.decode_text(body, media_type)
    if (media_type.charset or "utf-8").lower().replace("-", "").replace("_", "") == "utf8":
        # Valid UTF-8 already: skip encoding the text again, a copy as large as the body.
        return body.removeprefix(b"\xef\xbb\xbf")
    return _utf8(text)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate: utf-7 and utf-16 bodies, or a custom input_fn's text, can hold one.
        raise BadRequest(
            f"the body holds a lone surrogate (character {exc.start}), which is not text",
            code="invalid_encoding",
            offset=exc.start,
        ) from None


def _load_json(data: bytes, line: int | None = None) -> Any:
    """Parse a JSON document: the whole body, or the body's line `line` (JSON Lines)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if line is None:
            where, line = f"the body is not valid JSON: {exc.msg} at line {exc.lineno}", exc.lineno
        else:
            # orjson counts lines within the one line it was given: report the body's line.
            where = f"line {line} is not valid JSON: {exc.msg}"
        raise BadRequest(
            f"{where}, column {exc.colno}", code="invalid_json", line=line, column=exc.colno
        ) from None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


# --- JSON Lines -------------------------------------------------------------------------------


def decode_jsonlines(body: bytes, media_type: mediatypes.MediaType) -> np.ndarray:
    """One row per line: a list of values, or an object with 'features' (or 'inputs')."""
    rows = []
    for line_number, line in enumerate(_as_json_bytes(body, media_type).splitlines(), start=1):
        if not line.strip():
            continue
        row = _load_json(line, line=line_number)
        if isinstance(row, dict):
            key = next((k for k in ("features", "inputs") if k in row), None)
            if key is None:
                raise BadRequest(
                    f"line {line_number} is an object without a 'features' key",
                    code="invalid_json_shape",
                    line=line_number,
                )
            row = row[key]
        if not isinstance(row, list):
            raise BadRequest(
                f"line {line_number}: expected a list of values, got {_json_kind(row)}",
                code="invalid_shape",
                line=line_number,
            )
        rows.append(row)
    if not rows:
        raise BadRequest("JSON Lines: there are no rows", code="empty_input")
    return rows_to_array(rows, source="JSON Lines")


# --- CSV --------------------------------------------------------------------------------------


def decode_csv(body: bytes, media_type: mediatypes.MediaType) -> np.ndarray:
    """Numeric CSV rows to a 2-D float array.

    The first row is a header, and is skipped, when it has a non-numeric cell; only the first row
    can be one. Empty cells are missing values (NaN). Quoted numbers are numbers. Anything else that
    is not a number is a 400 naming its row and column (1-based, counting the header).
    """
    text = mediatypes.decode_text(body, media_type)
    if not text.strip():
        # Checked here, as np.loadtxt warns about empty input before returning nothing.
        raise BadRequest("CSV: there are no rows", code="empty_input")
    row = _one_plain_row(text)
    if row is not None:
        return row
    try:
        # numpy's C parser: the fast path for well-formed numeric bodies.
        array = np.loadtxt(
            io.StringIO(text),
            delimiter=",",
            dtype=np.float64,
            ndmin=2,
            comments=None,
            quotechar='"',
        )
    except ValueError:
        return _decode_csv_carefully(text)
    if array.size == 0:
        raise BadRequest("CSV: there are no rows", code="empty_input")
    return array


def _one_plain_row(text: str) -> np.ndarray | None:
    """The most common request, one row of plain numbers, without np.loadtxt's set-up cost.

    None for anything else (several rows, quotes, empty cells, a header...), which the general
    path decodes, or explains.
    """
    line = text.strip()
    if len(line) > MAX_PLAIN_ROW_CHARS or "\n" in line or "\r" in line or '"' in line:
        return None
    cells = line.split(",")
    try:
        return np.array(cells, dtype=np.float64).reshape(1, -1)
    except ValueError:
        pass
    # Empty cells are missing values, as on the general path; a row of nothing but empty cells is
    # no row at all there, and is left to it.
    filled = [cell if cell.strip() else "nan" for cell in cells]
    if filled.count("nan") == len(filled):
        return None
    try:
        return np.array(filled, dtype=np.float64).reshape(1, -1)
    except ValueError:
        return None


def _decode_csv_carefully(text: str) -> np.ndarray:
    # newline="": the csv module handles \r, \n and \r\n line ends itself (a lone \r, as old Mac
    # exports end lines, is otherwise a csv.Error).
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        records = [(number, row) for number, row in enumerate(reader, start=1) if any(c.strip() for c in row)]
    except csv.Error as exc:  # a field over csv.field_size_limit(), and the like
        raise BadRequest(
            f"CSV: row {reader.line_num} cannot be read: {exc}", code="invalid_csv", row=reader.line_num
        ) from None
    if not records:
        raise BadRequest("CSV: there are no rows", code="empty_input")
    if _is_header(records[0][1]):
        records = records[1:]
        if not records:
            raise BadRequest("CSV: there is a header row but no data rows", code="empty_input")
    width = len(records[0][1])
    values = np.empty((len(records), width), dtype=np.float64)
    for index, (row_number, row) in enumerate(records):
        if len(row) != width:
            raise BadRequest(
                f"CSV: row {row_number} has {len(row)} columns, expected {width}",
                code="ragged_rows",
                row=row_number,
                expected=width,
                found=len(row),
            )
        for column, cell in enumerate(row):
            values[index, column] = _csv_number(cell, row_number, column + 1)
    return values


def _is_header(row: list[str]) -> bool:
    return any(cell.strip() and not _is_number(cell) for cell in row)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_number(cell: str, row: int, column: int) -> float:
    cell = cell.strip()
    if not cell:
        return np.nan
    try:
        return float(cell)
    except ValueError:
        shown = cell if len(cell) <= 40 else cell[:37] + "..."
        raise BadRequest(
            f"CSV: row {row}, column {column}: {shown!r} is not a number",
            code="invalid_value",
            row=row,
            column=column,
        ) from None


# --- NumPy ------------------------------------------------------------------------------------


def decode_npy(body: bytes, media_type: mediatypes.MediaType) -> np.ndarray:
    """A .npy array; object arrays are refused (loading them would unpickle client data)."""
    try:
        _check_npy_size(body)
        array = np.lib.format.read_array(io.BytesIO(body), allow_pickle=False)
    except BadRequest:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise BadRequest(
                "NPY: object arrays are refused; send a numeric or string array",
                code="pickled_array_refused",
            ) from None
        raise BadRequest(f"NPY: not a valid .npy array: {exc}", code="invalid_npy") from None
    except Exception as exc:
        # The header is a Python literal parsed by NumPy: a damaged one fails in many ways
        # (tokenize.TokenError, KeyError, OSError, EOFError, ...), all of them the client's.
        raise BadRequest(
            f"NPY: not a valid .npy array ({type(exc).__name__}: {exc})", code="invalid_npy"
        ) from None
    if array.ndim == 0:
        raise BadRequest("NPY: expected an array of rows, got a scalar", code="invalid_shape")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.shape[0] == 0:
        raise BadRequest("NPY: there are no rows", code="empty_input")
    return array


def _check_npy_size(body: bytes) -> None:
    """Refuse a header that declares more data than the body holds, before anything is allocated.

    np.lib.format.read_array allocates the whole declared array before reading it from a stream, so
    a 100-byte body declaring a shape of 10**15 would be a MemoryError (or gigabytes of memory).
    """
    stream = io.BytesIO(body)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        # 3.0 differs from 2.0 only in the header's text encoding (UTF-8 instead of latin-1), which
        # can change field names but not sizes; read_array below checks the version properly.
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    if dtype.hasobject:
        return  # read_array refuses it before reading the data: pickled_array_refused
    count = math.prod(shape)
    available = len(body) - stream.tell()
    # max(..., 1): zero-size items carry no data, so a huge count of them costs nothing to send.
    if count * max(dtype.itemsize, 1) > available:
        raise BadRequest(
            f"NPY: the header declares shape {shape} of {dtype}, but the body holds {available} bytes "
            "of data",
            code="invalid_npy",
        )


def decode_npz(body: bytes, media_type: mediatypes.MediaType) -> scipy.sparse.csr_matrix:
    """A SciPy sparse matrix saved with scipy.sparse.save_npz (loaded without pickle)."""
    # np.load, under load_npz, takes a body that is not a zip (or .npy) for a pickle and refuses it
    # as one: say what is wrong with it instead.
    if not body.startswith(ZIP_MAGIC):
        raise BadRequest(
            "NPZ: not a sparse matrix saved with scipy.sparse.save_npz (the body is not a zip archive)",
            code="invalid_npz",
        )
    _refuse_zip_bomb(body)
    try:
        matrix = scipy.sparse.load_npz(io.BytesIO(body))
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise BadRequest("NPZ: object arrays are refused", code="pickled_array_refused") from None
        raise BadRequest(f"NPZ: not a sparse matrix file: {exc}", code="invalid_npz") from None
    except Exception as exc:  # zipfile, KeyError for a missing member, and the like
        raise BadRequest(
            f"NPZ: not a sparse matrix saved with scipy.sparse.save_npz ({type(exc).__name__})",
            code="invalid_npz",
        ) from None
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise BadRequest("NPZ: expected a 2-D sparse matrix with at least one row", code="invalid_shape")
    return matrix.tocsr()


def _refuse_zip_bomb(body: bytes) -> None:
    # A few MiB of zip can declare gigabytes of members; np.load would allocate them all.
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a readable zip: load_npz's own error says so
    if declared > MAX_NPZ_UNPACKED_BYTES:
        raise PayloadTooLarge(
            f"NPZ: the archive unpacks to {declared} bytes; the limit is {MAX_NPZ_UNPACKED_BYTES}",
            code="npz_too_large",
            limit=MAX_NPZ_UNPACKED_BYTES,
        )


DECODERS: dict[str, Decoder] = {
    mediatypes.JSON: decode_json,
    mediatypes.CSV: decode_csv,
    mediatypes.JSONLINES: decode_jsonlines,
    mediatypes.NPY: decode_npy,
    mediatypes.NPZ: decode_npz,
}
