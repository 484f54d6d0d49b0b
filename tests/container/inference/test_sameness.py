"""Bit-for-bit sameness of predictions: what lets a batch stand in for requests predicted alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from container.inference.sameness import first_difference


@pytest.mark.parametrize(
    "value",
    [
        {"predictions": np.array([1, 2]), "probabilities": np.eye(2), "model": "v3"},
        [{"label": "a", "score": 0.25}, {"label": "b", "score": None}],
        (np.float32(1.5), "x", b"y", 3, True, complex(1, 2)),
        np.array([[1.0, math.nan]]),  # NaN is the same bits as itself
        np.array([{"a": 1}, "b"], dtype=object),
        np.zeros((0, 3)),
    ],
)
def test_a_value_is_the_same_as_its_copy(value):
    import copy

    assert first_difference(copy.deepcopy(value), value) is None


def test_a_float_that_differs_in_its_last_bit_is_shown_by_its_bits():
    alone = 0.1 + 0.2
    batched = np.nextafter(alone, 1.0).item()
    found = first_difference({"p": [batched]}, {"p": [alone]})
    assert found == f"the prediction['p'][0] is {alone!r} alone, {batched!r} in the batch"
    assert first_difference(-0.0, 0.0) == "the prediction is 0.0 alone, -0.0 in the batch"
    # Printed alike (two NaNs with different payloads)? Then the bits.
    quiet, other = np.array([0x7FF8000000000000, 0x7FF8000000000001], dtype=np.uint64).view(np.float64)
    assert first_difference(other, quiet) == (
        "the prediction is 0x7ff8000000000000 alone, 0x7ff8000000000001 in the batch"
    )


def test_arrays_name_the_first_element_that_differs_even_by_one_bit():
    alone = np.array([[0.5, 0.25], [0.125, 0.75]])
    batched = alone.copy()
    batched[1, 0] = np.nextafter(batched[1, 0], 0)
    assert first_difference(batched, alone).startswith("the prediction[1, 0] is 0.125 alone, ")
    assert "dtype float64 alone, float32" in first_difference(alone.astype(np.float32), alone)
    assert "shape (2, 2) alone, (1, 4)" in first_difference(alone.reshape(1, 4), alone)


@pytest.mark.parametrize(
    ("batched", "alone", "expected"),
    [
        ([1], (1,), "is a tuple alone, a list in the batch"),
        ({"b": 1, "a": 2}, {"a": 2, "b": 1}, "has the keys ['a', 'b'] alone, ['b', 'a'] in the batch"),
        ([1, 2], [1], "has 1 entries alone, 2 in the batch"),
        (np.int64(1), np.int64(2), "is 2 alone, 1 in the batch"),
        (1, True, "is a bool alone, a int in the batch"),
        ("a", "b", "is 'b' alone, 'a' in the batch"),
    ],
)
def test_types_keys_and_lengths_count(batched, alone, expected):
    assert expected in first_difference(batched, alone)


def test_what_cannot_be_looked_into_is_never_the_same():
    class Opaque:
        def __eq__(self, other):
            return True

    assert "Opaque, which cannot be compared bit for bit" in first_difference(Opaque(), Opaque())
