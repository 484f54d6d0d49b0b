"""Micro-batching, the pure part: when to batch, which requests can share one predict call, and how.

A model call costs about the same for 1 row as for 32, so requests that arrive together are worth
stacking into one call. Two requests share a batch only when their decoded inputs are 2-D numeric
arrays of the same width and dtype; the prediction is split back by row counts, the handler's way
(HandlerSpec.split_prediction) or by `split` here. A prediction that cannot be split unambiguously
is an error the caller answers by predicting each request alone. (Whether a predict_fn that never
said it may batch answers alike in a batch is for container.inference.autobatch to find out.)
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC_KINDS = frozenset("biuf")


# A request alone in its worker skips the batch path while the recent batches averaged under this
# size; each batch moves the average this far towards its own size.
LONE_BATCH_SIZE = 1.5
RECENT_BATCH_WEIGHT = 0.2


@dataclass
class BatchPolicy:
    """Whether a request takes the batch path, and how big a batch may grow.

    A request with no company, now or lately, goes over whole in one call, as without batching, so
    a lone request pays nothing for batching. Under load (batches lately bigger than one) even a
    request that finds no other in flight takes the batch path: its company is about to arrive, and
    a call of its own would only hold the batch up.
    """

    enabled: bool = True
    max_batch_size: int = 32  # requests in one predict call
    max_delay_seconds: float = 0.0  # extra wait for company; 0 batches only what is already queued
    recent_batch_size: float = 1.0  # moving average of requests per predict_fn call

    @property
    def runner_batch_size(self) -> int:
        """The most calls the model thread may gather into one (1: it never gathers)."""
        return self.max_batch_size if self.enabled else 1

    def takes_batch_path(self, requests_in_flight: int) -> bool:
        if not self.enabled:
            return False
        return requests_in_flight > 1 or self.recent_batch_size >= LONE_BATCH_SIZE

    def record(self, size: int) -> None:
        """One predict_fn call served `size` requests.

        Called from the model thread; a float assignment is atomic, and an update lost to a race
        with the event loop only shifts the average a little.
        """
        self.recent_batch_size += (size - self.recent_batch_size) * RECENT_BATCH_WEIGHT


class CannotSplit(ValueError):
    """The batch's prediction does not have one row per input row."""


def batch_key(data: Any) -> tuple[str, int, str] | None:
    """A key equal for inputs that can be stacked together; None when this input cannot batch."""
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.kind not in NUMERIC_KINDS:
        return None
    if data.shape[0] == 0:
        return None
    return ("ndarray", data.shape[1], data.dtype.str)


def stack(inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """One array of all rows, and each input's row count to split the prediction by."""
    sizes = [len(item) for item in inputs]
    return (inputs[0] if len(inputs) == 1 else np.concatenate(inputs)), sizes


def split(prediction: Any, sizes: Sequence[int], row_keys: Collection[str] = ()) -> list[Any]:
    """Cut a batch's prediction into one per request.

    Arrays and lists are cut by rows. In a mapping, the values under `row_keys` (which the handler
    names: the scikit-learn handler's "predictions" and "probabilities") are cut and the others are
    shared by every request: a length alone cannot tell per-row values from, say, three classes in a
    batch of three rows. A mapping without any of them is not cut. (`split_rows`, the generic rule,
    is for predictions checked against the one-by-one path, where such a mistake shows.)
    """
    total = sum(sizes)
    if isinstance(prediction, Mapping):
        present = [key for key in row_keys if key in prediction]
        if not present:
            raise CannotSplit(f"the prediction has none of the per-row keys {sorted(row_keys)}")
        parts: list[dict[str, Any]] = [dict(prediction) for _ in sizes]
        for key in present:
            if _rows(prediction[key]) != total:
                raise CannotSplit(f"{key!r} has {_rows(prediction[key])} rows for {total} input rows")
            for part, piece in zip(parts, _cut(prediction[key], sizes), strict=True):
                part[key] = piece
        return parts
    if _rows(prediction) != total:
        raise CannotSplit(f"the prediction has {_rows(prediction)} rows for {total} input rows")
    return _cut(prediction, sizes)


# Values a request's share of a prediction holds as they are, wherever they sit in it.
SCALARS = (str, bytes, int, float, bool, complex, type(None), np.generic)


def split_rows(prediction: Any, sizes: Sequence[int]) -> list[Any]:
    """The generic cut: every list and array in the prediction has one entry per input row.

    A list or an array (of at least one dimension) is cut by rows, wherever it sits in the
    prediction; a dict is cut value by value, keeping its keys, and so is a tuple, taken for a
    record of fields (`return labels, probabilities`); a scalar (a string, a number, None, a 0-d
    array), or a dict or tuple of scalars only, is shared by every request. A prediction without
    any list or array, anything else (another mapping or sequence type, an object), or a list or
    array whose length is not the batch's number of rows, raises CannotSplit: there is no telling
    which entries belong to which request, so the prediction is not batchable.
    """
    if not _holds_rows(prediction):
        raise CannotSplit(f"the prediction ({type(prediction).__name__}) holds no list or array of rows")
    return _split_value(prediction, sizes, sum(sizes), "the prediction")


def _split_value(value: Any, sizes: Sequence[int], total: int, where: str) -> list[Any]:
    if type(value) in (dict, tuple) and not _holds_rows(value):
        # Fields of scalars only ({"model": "v3"}): shared, one copy each, as output_fn may change it.
        return [copy.deepcopy(value) for _ in sizes]
    if type(value) is dict:
        columns = {key: _split_value(item, sizes, total, f"{where}[{key!r}]") for key, item in value.items()}
        return [{key: parts[i] for key, parts in columns.items()} for i in range(len(sizes))]
    if type(value) is tuple:
        fields = [_split_value(item, sizes, total, f"{where}[{i}]") for i, item in enumerate(value)]
        return [tuple(parts[i] for parts in fields) for i in range(len(sizes))]
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return [value] * len(sizes)
        if value.shape[0] != total:
            raise CannotSplit(f"{where} has {value.shape[0]} entries for {total} input rows")
        return _cut(value, sizes)
    if type(value) is list:
        if len(value) != total:
            raise CannotSplit(f"{where} has {len(value)} entries for {total} input rows")
        return _cut(value, sizes)
    if isinstance(value, SCALARS):
        return [value] * len(sizes)
    raise CannotSplit(f"{where} is a {type(value).__name__}, which the runtime does not know how to cut")


def _holds_rows(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    if type(value) is list:
        return True
    if type(value) in (dict, tuple):
        return any(_holds_rows(item) for item in (value.values() if type(value) is dict else value))
    return False


def _rows(value: Any) -> int | None:
    if isinstance(value, np.ndarray):
        return value.shape[0] if value.ndim > 0 else None
    if isinstance(value, list | tuple):
        return len(value)
    return None


def _cut(value: Any, sizes: Sequence[int]) -> list[Any]:
    bounds = itertools.accumulate(sizes, initial=0)
    return [value[start:end] for start, end in itertools.pairwise(bounds)]
