"""Whether two predictions are the same, bit for bit, and if not, where they first differ. Pure.

The check behind batching code that never said it may batch (container.inference.autobatch): a
request's share of a batch's prediction must be exactly what predict_fn returns for the request
alone. "Exactly" means the same types, the same dict keys in the same order, the same array dtypes
and shapes, and the same bits in every number: a float that differs in its last bit may round to
another printed value in some output_fn, so it counts as a difference even where the encoded
answers happen to agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Compared with ==: equal values of these types are the same value.
PLAIN = (str, bytes, int, bool, type(None))
MAX_SHOWN = 60


def first_difference(batched: Any, alone: Any, where: str = "the prediction") -> str | None:
    """None when `batched` is bit for bit `alone`; else where and how they first differ.

    Values of types this cannot look inside (objects, other containers) count as different: what
    cannot be compared cannot be shown to be the same.
    """
    if type(batched) is not type(alone):
        return f"{where} is a {type(alone).__name__} alone, a {type(batched).__name__} in the batch"
    if isinstance(alone, np.ndarray):
        return _array_difference(batched, alone, where)
    if isinstance(alone, np.generic):
        if alone.dtype != batched.dtype or alone.tobytes() != batched.tobytes():
            return _values_differ(where, alone, batched)
        return None
    if isinstance(alone, float):
        return None if alone.hex() == batched.hex() else _values_differ(where, alone, batched)
    if isinstance(alone, complex):
        same = (alone.real.hex(), alone.imag.hex()) == (batched.real.hex(), batched.imag.hex())
        return None if same else _values_differ(where, alone, batched)
    if isinstance(alone, PLAIN):
        return None if alone == batched else _values_differ(where, alone, batched)
    if type(alone) is dict:
        if list(alone) != list(batched):
            return f"{where} has the keys {_shown(list(alone))} alone, {_shown(list(batched))} in the batch"
        for key, value in alone.items():
            found = first_difference(batched[key], value, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if type(alone) in (list, tuple):
        if len(alone) != len(batched):
            return f"{where} has {len(alone)} entries alone, {len(batched)} in the batch"
        for index, (mine, theirs) in enumerate(zip(batched, alone, strict=True)):
            found = first_difference(mine, theirs, f"{where}[{index}]")
            if found:
                return found
        return None
    return f"{where} is a {type(alone).__name__}, which cannot be compared bit for bit"


def _array_difference(batched: np.ndarray, alone: np.ndarray, where: str) -> str | None:
    if alone.dtype != batched.dtype:
        return f"{where} has dtype {alone.dtype} alone, {batched.dtype} in the batch"
    if alone.shape != batched.shape:
        return f"{where} has shape {alone.shape} alone, {batched.shape} in the batch"
    if alone.dtype.hasobject:
        for index in np.ndindex(alone.shape):
            found = first_difference(batched[index], alone[index], f"{where}[{_index(index)}]")
            if found:
                return found
        return None
    if alone.tobytes() == batched.tobytes():
        return None
    # Element by element, as raw bytes: NaN and -0.0 are compared by their bits too.
    size = alone.dtype.itemsize
    if size == 0:
        return None
    mine = np.frombuffer(batched.tobytes(), dtype=np.uint8).reshape(-1, size)
    theirs = np.frombuffer(alone.tobytes(), dtype=np.uint8).reshape(-1, size)
    flat = int(np.flatnonzero((mine != theirs).any(axis=1))[0])
    index = np.unravel_index(flat, alone.shape)
    return _values_differ(f"{where}[{_index(index)}]", alone[index], batched[index])


def _index(index: tuple[Any, ...]) -> str:
    return ", ".join(str(int(i)) for i in index)


def _values_differ(where: str, alone: Any, batched: Any) -> str:
    shown_alone, shown_batched = _shown(alone), _shown(batched)
    if shown_alone == shown_batched:
        # Printed alike, different bits (a float's last bit, NaN payloads, -0.0): show the bits.
        shown_alone, shown_batched = _bits(alone), _bits(batched)
    return f"{where} is {shown_alone} alone, {shown_batched} in the batch"


def _bits(value: Any) -> str:
    if isinstance(value, np.generic):  # before float: np.float64 is a float too
        raw = value.tobytes()  # as one integer, most significant bit first
        return (
            f"0x{int.from_bytes(raw, 'little' if value.dtype.byteorder != '>' else 'big'):0{2 * len(raw)}x}"
        )
    if isinstance(value, float):
        return value.hex()
    return repr(value)


def _shown(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) and value.dtype.kind in "biufc" else value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
