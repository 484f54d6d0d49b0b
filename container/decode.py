"""Request body decoders: bytes or text in, NumPy (or SciPy sparse) out. Pure functions.

Every decoder returns rows: a single row is still 2-D, shape (1, n_features). Anything that is
not what a decoder accepts raises BadRequest naming where it went wrong (line, row, column), so the
client gets a 400 it can act on. Nothing here ever unpickles.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import scipy.sparse

from container import mediatypes
from container.errors import BadRequest, UnsupportedMediaType

ROW_KEYS = ("instances", "features", "inputs")


def decode(body: bytes | str, content_type: str | None) -> Any:
    """Decode a request body according to its Content-Type header (the runtime's input_fn)."""
    media_type = mediatypes.parse_content_type(content_type)
    decoder = DECODERS.get(media_type.essence)
    if decoder is None:
        raise UnsupportedMediaType(
            f"Content-Type {media_type.essence!r} is not supported",
            supported=sorted(DECODERS),
        )
    if isinstance(body, str):
        # Already text (the runtime hands JSON and CSV to input_fn as str, as AWS's toolkit does):
        # the charset was applied on the way in.
        body = body.encode("utf-8")
        media_type = mediatypes.MediaType(media_type.type, media_type.subtype)
    if not body:
        raise BadRequest("the request body is empty", code="empty_body")
    return decoder(body, media_type)


# --- JSON -------------------------------------------------------------------------------------


def decode_json(body: bytes, media_type: mediatypes.MediaType) -> np.ndarray:
    document = _load_json(_as_json_bytes(body, media_type), where="the body")
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
    charset = (media_type.charset or "utf-8").lower().replace("_", "-")
    if charset in ("utf-8", "utf8", "us-ascii", "ascii"):
        return body.removeprefix(b"\xef\xbb\xbf")
    return mediatypes.decode_text(body, media_type).encode("utf-8")


def _load_json(data: bytes, where: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            code="invalid_json",
            line=exc.lineno,
            column=exc.colno,
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
        row = _load_json(line, where=f"line {line_number}")
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


def _decode_csv_carefully(text: str) -> np.ndarray:
    records = [
        (number, row)
        for number, row in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), start=1)
        if any(cell.strip() for cell in row)
    ]
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
        array = np.lib.format.read_array(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise BadRequest(
                "NPY: object arrays are refused; send a numeric or string array",
                code="pickled_array_refused",
            ) from None
        raise BadRequest(f"NPY: not a valid .npy array: {exc}", code="invalid_npy") from None
    except (OSError, EOFError, TypeError) as exc:
        raise BadRequest(f"NPY: not a valid .npy array: {exc}", code="invalid_npy") from None
    if array.ndim == 0:
        raise BadRequest("NPY: expected an array of rows, got a scalar", code="invalid_shape")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.shape[0] == 0:
        raise BadRequest("NPY: there are no rows", code="empty_input")
    return array


def decode_npz(body: bytes, media_type: mediatypes.MediaType) -> scipy.sparse.csr_matrix:
    """A SciPy sparse matrix saved with scipy.sparse.save_npz (loaded without pickle)."""
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


DECODERS: dict[str, Callable[[bytes, mediatypes.MediaType], Any]] = {
    mediatypes.JSON: decode_json,
    mediatypes.CSV: decode_csv,
    mediatypes.JSONLINES: decode_jsonlines,
    mediatypes.NPY: decode_npy,
    mediatypes.NPZ: decode_npz,
}
