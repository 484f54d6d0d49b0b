"""The pure part of micro-batching: grouping keys, stacking, and splitting predictions back."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container.inference.batching import CannotSplit, batch_key, split, stack

# The per-row values of the scikit-learn handler's table (handlers/sklearn.py: ROW_KEYS), which
# that handler names for split; "classes" is shared.
TABLE_ROW_KEYS = ("predictions", "probabilities")


def test_only_two_dimensional_numeric_arrays_can_batch():
    assert batch_key(np.zeros((2, 4))) == ("ndarray", 4, "<f8")
    assert batch_key(np.zeros((1, 4), dtype=np.int64)) == ("ndarray", 4, "<i8")
    assert batch_key(np.zeros(4)) is None
    assert batch_key(np.zeros((0, 4))) is None
    assert batch_key(np.array([["a", "b"]], dtype=object)) is None
    assert batch_key(np.array([["a", "b"]])) is None  # unicode strings
    assert batch_key([[1.0, 2.0]]) is None
    assert batch_key(np.zeros((1, 4))) != batch_key(np.zeros((1, 5)))
    assert batch_key(np.zeros((1, 4))) != batch_key(np.zeros((1, 4), dtype=np.float32))


def test_a_table_is_split_by_rows_and_shares_the_rest():
    table = {
        "predictions": np.array([0, 1, 2]),
        "probabilities": np.eye(3),
        "classes": np.array([0, 1, 2]),  # three classes in a batch of three rows: shared, not cut
    }
    first, second = split(table, [1, 2], row_keys=TABLE_ROW_KEYS)
    assert first["predictions"].tolist() == [0]
    assert second["predictions"].tolist() == [1, 2]
    assert second["probabilities"].tolist() == [[0, 1, 0], [0, 0, 1]]
    assert first["classes"].tolist() == second["classes"].tolist() == [0, 1, 2]


def test_plain_arrays_and_lists_are_split_by_rows():
    assert [p.tolist() for p in split(np.arange(5), [2, 3])] == [[0, 1], [2, 3, 4]]
    assert split(["a", "b", "c"], [1, 1, 1]) == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize(
    "prediction",
    [np.arange(4), [1, 2], {"score": np.arange(3)}, {"predictions": np.arange(2)}, np.float64(1.0)],
)
def test_a_prediction_without_one_row_per_input_row_cannot_be_split(prediction):
    with pytest.raises(CannotSplit):
        split(prediction, [1, 2], row_keys=TABLE_ROW_KEYS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8), st.integers(1, 5))
def test_stack_then_split_gives_each_request_its_own_rows(sizes, width):
    inputs = [np.full((rows, width), float(i)) for i, rows in enumerate(sizes)]
    stacked, counted = stack(inputs)
    assert counted == sizes and stacked.shape == (sum(sizes), width)
    parts = split({"predictions": stacked[:, 0], "probabilities": stacked}, counted, row_keys=TABLE_ROW_KEYS)
    for i, (part, original) in enumerate(zip(parts, inputs, strict=True)):
        assert part["predictions"].tolist() == [float(i)] * len(original)
        np.testing.assert_array_equal(part["probabilities"], original)
