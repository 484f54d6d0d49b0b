"""Response encoders: a prediction in, bytes out. Pure functions.

A prediction is whatever predict_fn returned: a NumPy array, a list, a scalar, or a mapping. A
mapping with a "predictions" key (what the scikit-learn handler returns) is a table with one row
per input row; its shape in each format is:

    JSON        {"predictions": [...], "probabilities": [[...], ...], "classes": [...]}
    JSON Lines  one object per input row: {"prediction": p, "probabilities": [...]}
    CSV         one line per input row: prediction, then one column per class probability
    NPY         the predictions array alone

Other values: JSON writes them as they are (arrays as nested lists), JSON Lines writes one line per
item of the first axis, CSV writes 1-D as one value per line and 2-D as rows, NPY writes the array.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Mapping
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
    lines = [encode_json(row) for row in _per_row_objects(prediction)]
    return b"\n".join(lines) + b"\n"


def encode_csv(prediction: Any) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(_csv_rows(prediction))
    return buffer.getvalue().encode("utf-8")


def encode_npy(prediction: Any) -> bytes:
    if is_table(prediction):
        prediction = prediction["predictions"]
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


def is_table(prediction: Any) -> bool:
    return isinstance(prediction, Mapping) and "predictions" in prediction


def _per_row_objects(prediction: Any) -> list[Any]:
    if is_table(prediction):
        predictions = _as_list(prediction["predictions"])
        probabilities = prediction.get("probabilities")
        if probabilities is None:
            return [{"prediction": p} for p in predictions]
        return [
            {"prediction": p, "probabilities": row}
            for p, row in zip(predictions, _as_list(probabilities), strict=True)
        ]
    value = _as_list(prediction)
    return value if isinstance(value, list) else [value]


def _csv_rows(prediction: Any) -> list[list[Any]]:
    if is_table(prediction):
        columns = [np.asarray(prediction["predictions"])]
        if prediction.get("probabilities") is not None:
            columns.append(np.asarray(prediction["probabilities"]))
        columns = [c.reshape(len(c), -1) if c.ndim != 2 else c for c in columns]
        # Column by column, so integer labels stay integers beside float probabilities.
        per_column_rows = [c.tolist() for c in columns]
        return [list(itertools.chain.from_iterable(parts)) for parts in zip(*per_column_rows, strict=True)]
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


def _as_list(value: Any) -> Any:
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
