"""Checks every handler makes on a request's rows before they reach the model. Pure functions.

Each failure is a BadRequest (400) that says what was expected and what came, with the place
(row, column, 1-based) where there is one, so a client's mistake never becomes a 500 from deep
inside a framework. `name` (optional everywhere) names the model input being checked, for models
with several: "input 'age': each row must have 4 features; got 3".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from container.errors import BadRequest

# dtype kinds that are not numbers: Python objects, str and bytes.
NON_NUMERIC_KINDS = "OUS"
# dtype kinds that are no feature values at all: complex numbers, dates, durations, records.
NOT_FEATURE_KINDS = "cMmV"


def validate_rows(data: Any, width: int | None, *, numeric: bool = True, name: str | None = None) -> Any:
    """Rows checked against the `width` the model expects (None: unknown), as a 2-D array.

    A 1-D array is one row. Sparse rows are checked for width only. With `numeric`, strings that
    are numbers become numbers and any other non-number is a 400 naming its place. Structures that
    are not arrays (a custom input_fn's DataFrame or list of texts) are passed on unchecked.
    """
    if scipy.sparse.issparse(data):
        check_width(data.shape[1], width, name=name)
        return data
    if not isinstance(data, np.ndarray):
        return data
    if width is not None:
        data = require_2d(data, width, name=name)
    if data.ndim == 2:
        check_width(data.shape[1], width, name=name)
    # Object arrays (JSON with strings) and string arrays (NPY) alike: numeric models refuse both,
    # even when every string is a number.
    if numeric and data.dtype.kind in NON_NUMERIC_KINDS:
        data = as_numbers(data)
    return data


def check_dtype(data: Any, *, name: str | None = None) -> None:
    """A 400 naming the dtype for arrays of what is no feature value: complex numbers, dates,
    durations, records (an NPY body can hold any of them). NumPy would turn dates into integers
    silently, and models fail on complex numbers with errors that would otherwise be 500s."""
    dtype = getattr(data, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in NOT_FEATURE_KINDS:
        raise BadRequest(
            f"{_prefix(name)}the rows are of type {dtype}, which is not a feature value: send real "
            "numbers (integers, floats or booleans) or text",
            code="unsupported_dtype",
            dtype=str(dtype),
            **_input(name),
        )


def require_2d(data: np.ndarray, width: int, *, name: str | None = None) -> np.ndarray:
    """Rows of `width` features as a 2-D array: a 1-D array is one row; any other shape is a 400."""
    if data.ndim == 1:
        return data.reshape(1, -1)
    if data.ndim != 2:
        raise BadRequest(
            f"{_prefix(name)}expected rows of {width} features (a 2-D array), got an array of shape "
            f"{data.shape}",
            code="invalid_shape",
            expected=[None, width],
            found=list(data.shape),
            **_input(name),
        )
    return data


def check_width(width: int, expected: int | None, *, name: str | None = None) -> None:
    """A 400 when rows have `width` features and the model expects `expected` (None: any)."""
    if expected is not None and width != expected:
        raise BadRequest(
            f"{_prefix(name)}each row must have {expected} features; got {width}",
            code="wrong_feature_count",
            expected=int(expected),
            found=int(width),
            **_input(name),
        )


def as_numbers(data: np.ndarray, *, name: str | None = None) -> np.ndarray:
    """A float64 copy of `data`; a 400 naming the first value that is not a number.

    None (JSON null beside strings) is a missing value, NaN, as it is in a numeric row.
    """
    try:
        return data.astype(np.float64)
    except (ValueError, TypeError):
        pass
    numbers = np.empty(data.shape, dtype=np.float64)
    for index, value in np.ndenumerate(data):
        if value is None:
            numbers[index] = np.nan
            continue
        try:
            numbers[index] = float(value)
        except (ValueError, TypeError):
            # Rows not yet checked against a width need not be 2-D.
            where = {"row": index[0] + 1, "column": index[1] + 1} if data.ndim == 2 else {}
            place = f"row {index[0] + 1}, column {index[1] + 1}" if where else f"position {list(index)}"
            shown = value.item() if isinstance(value, np.generic) else value  # 'x', not np.str_('x')
            raise BadRequest(
                f"{_prefix(name)}{place}: {shown!r} is not a number",
                code="invalid_value",
                **where,
                **_input(name),
            ) from None
    return numbers


def first_missing(rows: Any) -> tuple[int, int] | None:
    """1-based row and column of the first NaN in 2-D float rows (dense, sparse or a DataFrame)."""
    return _first(rows, np.isnan)


def first_infinite(rows: Any) -> tuple[int, int] | None:
    """1-based row and column of the first infinity (inf, -inf, 1e309) in 2-D float rows, else None."""
    return _first(rows, np.isinf)


def first_non_finite(rows: Any) -> tuple[int, int] | None:
    """1-based row and column of the first NaN or infinity in 2-D float rows, else None."""
    return _first(rows, lambda values: ~np.isfinite(values))


def require_finite(rows: Any, *, name: str | None = None) -> Any:
    """`rows`, or a 400 naming the first missing (NaN) or infinite value, for models that take neither."""
    found = first_non_finite(rows)
    if found is None:
        return rows
    row, column = found
    value = _value_at(rows, row - 1, column - 1)
    kind = "a missing value (NaN)" if np.isnan(value) else f"{value!r}, not a finite number"
    raise BadRequest(
        f"{_prefix(name)}row {row}, column {column} holds {kind}; the model takes finite numbers only",
        code="non_finite_value",
        row=row,
        column=column,
        **_input(name),
    )


def _first(rows: Any, test: Any) -> tuple[int, int] | None:
    if scipy.sparse.issparse(rows):
        rows = rows.tocoo()
        if rows.dtype.kind != "f":
            return None
        positions = np.flatnonzero(test(rows.data))
        if positions.size == 0:
            return None
        # COO order is not row-major: pick the first in reading order.
        first = min(zip(rows.row[positions], rows.col[positions], strict=True))
        return int(first[0]) + 1, int(first[1]) + 1
    if hasattr(rows, "to_numpy"):
        rows = rows.to_numpy()  # a DataFrame
    if not isinstance(rows, np.ndarray) or rows.ndim != 2 or rows.dtype.kind != "f":
        return None
    found = np.argwhere(test(rows))
    if found.size == 0:
        return None
    return int(found[0][0]) + 1, int(found[0][1]) + 1


def _value_at(rows: Any, row: int, column: int) -> float:
    if scipy.sparse.issparse(rows):
        return float(rows.tocsr()[row, column])
    if hasattr(rows, "to_numpy"):
        rows = rows.to_numpy()
    return float(rows[row, column])


def _prefix(name: str | None) -> str:
    return f"input {name!r}: " if name else ""


def _input(name: str | None) -> dict[str, str]:
    return {"input": name} if name else {}
