"""Response encoders: a prediction in, bytes out. Pure functions.

A prediction is whatever predict_fn returned: a NumPy array, a list, a scalar, or a mapping. JSON
writes it as it is (arrays as nested lists), JSON Lines writes one line per item of the first axis,
CSV writes 1-D as one value per line and 2-D as rows, NPY writes the array. A handler whose
predictions have a shape of their own writes them in its output_fn, with these as building blocks
(the scikit-learn handler's table: handlers/sklearn.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import orjson

from container.codecs import mediatypes
from container.errors import NotAcceptable

ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode(prediction: Any, media_type: str) -> bytes:
    """Encode a prediction as `media_type` (a concrete type chosen by negotiation)."""
    encoder = ENCODERS.get(media_type)
    if encoder is None:
        raise NotAcceptable(f"the runtime cannot write {media_type!r}", supported=sorted(ENCODERS))
    return encoder(prediction)


def encode_json(prediction: Any) -> bytes:
    try:
        return orjson.dumps(prediction, default=_to_builtin, option=ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        # orjson refuses some arrays (non-contiguous, big-endian, object dtype): take the slow road.
        return orjson.dumps(_to_builtin_deep(prediction), default=_to_builtin, option=ORJSON_OPTIONS)


def encode_jsonlines(prediction: Any) -> bytes:
    value = to_list(prediction)
    return jsonlines(value if isinstance(value, list) else [value])


def jsonlines(objects: Iterable[Any]) -> bytes:
    """One JSON document per line, each line ended by a newline."""
    return b"\n".join([encode_json(item) for item in objects]) + b"\n"


def encode_csv(prediction: Any) -> bytes:
    return csv_lines(_csv_rows(prediction))


def csv_lines(rows: Iterable[Iterable[Any]]) -> bytes:
    """Rows of values as CSV: quoted where a value needs it, each line ended by a newline."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def encode_npy(prediction: Any) -> bytes:
    array = np.asarray(prediction)
    if array.dtype == object:
        raise NotAcceptable(
            "this prediction holds Python objects, which NPY can only carry pickled; "
            "ask for application/json instead",
            supported=[mediatypes.JSON, mediatypes.JSONLINES, mediatypes.CSV],
        )
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _csv_rows(prediction: Any) -> list[list[Any]]:
    array = np.asarray(prediction)
    if array.ndim == 0:
        return [[array.item()]]
    if array.ndim == 1:
        return [[value] for value in array.tolist()]
    if array.ndim == 2:
        return array.tolist()
    raise NotAcceptable(
        f"a prediction of shape {array.shape} has no CSV form (CSV holds 1-D or 2-D values)",
        supported=[mediatypes.JSON, mediatypes.JSONLINES, mediatypes.NPY],
    )


def to_list(value: Any) -> Any:
    """NumPy arrays and scalars as Python lists and numbers; anything else as it is."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def _to_builtin(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if hasattr(value, "toarray"):  # scipy.sparse
        return value.toarray().tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _to_builtin_deep(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _to_builtin_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_builtin_deep(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


ENCODERS: dict[str, Callable[[Any], bytes]] = {
    mediatypes.JSON: encode_json,
    mediatypes.CSV: encode_csv,
    mediatypes.JSONLINES: encode_jsonlines,
    mediatypes.NPY: encode_npy,
}
