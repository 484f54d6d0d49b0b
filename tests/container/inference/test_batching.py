"""The pure part of micro-batching: grouping keys, stacking, and splitting predictions back."""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container.inference.batching import CannotSplit, batch_key, split, split_rows, stack

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


# --- the generic cut (split_rows, for checked predict_fns): one entry per input row in every list and array


def test_the_generic_cut_cuts_every_list_and_array_and_shares_scalars():
    prediction = {
        "predictions": np.array([0, 1, 2]),
        "probabilities": [[0.5, 0.5], [0.1, 0.9], [1.0, 0.0]],
        "detail": {"scores": np.arange(3.0), "model": "v3"},
        "count": np.int64(7),
        "meta": {"version": 3, "tags": ("a", "b")},
    }
    first, second = split_rows(prediction, [1, 2])
    assert first["predictions"].tolist() == [0] and second["predictions"].tolist() == [1, 2]
    assert second["probabilities"] == [[0.1, 0.9], [1.0, 0.0]]
    assert first["detail"]["scores"].tolist() == [0.0] and first["detail"]["model"] == "v3"
    assert second["detail"]["scores"].tolist() == [1.0, 2.0]
    assert first["count"] == second["count"] == 7
    assert first["meta"] == second["meta"] == prediction["meta"]
    assert first["meta"] is not second["meta"]  # each its own, as output_fn may change it
    assert list(first) == list(prediction)  # the keys keep their order


def test_a_tuple_is_a_record_of_fields_and_a_list_of_records_is_rows():
    labels, scores = split_rows((np.array([1, 2, 3]), [0.1, 0.2, 0.3]), [2, 1])[1]
    assert labels.tolist() == [3] and scores == [0.3]
    records = [{"label": "a"}, {"label": "b"}]
    assert split_rows(records, [1, 1]) == [[{"label": "a"}], [{"label": "b"}]]


@pytest.mark.parametrize(
    ("prediction", "why"),
    [
        ({"predictions": np.arange(3), "classes": ["a", "b"]}, "['classes'] has 2 entries for 3 input rows"),
        ({"score": 0.5, "model": "v3"}, "the prediction (dict) holds no list or array of rows"),
        ((0.5, "v3"), "the prediction (tuple) holds no list or array of rows"),
        (0.5, "the prediction (float) holds no list or array of rows"),
        (np.array(2.0), "the prediction (ndarray) holds no list or array of rows"),
        (np.arange(4), "has 4 entries for 3 input rows"),
        ({"p": [1, 2, 3], "rows": {1, 2, 3}}, "is a set, which the runtime does not know how to cut"),
        (collections.OrderedDict(p=[1, 2, 3]), "OrderedDict"),
    ],
)
def test_the_generic_cut_refuses_what_has_no_clear_row_per_input_row(prediction, why):
    with pytest.raises(CannotSplit, match=re.escape(why)):
        split_rows(prediction, [1, 2])


def test_a_declared_batch_does_not_cut_a_dict_by_the_lengths_of_its_lists():
    # Two 1-row requests and two classes: a length cannot tell them apart, and a declared predict_fn is
    # not checked against the one-by-one path, so its dict is not cut (each request is predicted alone).
    with pytest.raises(CannotSplit, match="none of the per-row keys"):
        split({"predictions": [1, 0], "classes": ["no", "yes"]}, [1, 1])
    assert split([1, 0], [1, 1]) == [[1], [0]]
