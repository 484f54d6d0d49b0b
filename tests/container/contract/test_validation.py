"""The shared checks of request rows (container.contract.validation): shapes, widths, numbers, finiteness."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

import container
from container.contract import validation
from container.errors import BadRequest


def test_the_helpers_are_public_from_container():
    assert container.validate_rows is validation.validate_rows
    assert container.check_width is validation.check_width
    assert container.require_finite is validation.require_finite


def test_width():
    validation.check_width(4, 4)
    validation.check_width(7, None)  # unknown: anything goes
    with pytest.raises(BadRequest) as caught:
        validation.check_width(3, 4)
    assert caught.value.message == "each row must have 4 features; got 3"
    assert (caught.value.code, caught.value.details) == ("wrong_feature_count", {"expected": 4, "found": 3})


def test_a_named_input_is_named_in_the_message_and_the_details():
    with pytest.raises(BadRequest) as caught:
        validation.check_width(3, 4, name="pixels")
    assert caught.value.message == "input 'pixels': each row must have 4 features; got 3"
    assert caught.value.details == {"expected": 4, "found": 3, "input": "pixels"}


def test_two_dimensions():
    assert validation.require_2d(np.ones(4), 4).shape == (1, 4)
    rows = np.ones((2, 4))
    assert validation.require_2d(rows, 4) is rows
    with pytest.raises(BadRequest) as caught:
        validation.require_2d(np.ones((1, 2, 4)), 4)
    assert (
        caught.value.message == "expected rows of 4 features (a 2-D array), got an array of shape (1, 2, 4)"
    )
    assert caught.value.details == {"expected": [None, 4], "found": [1, 2, 4]}


def test_numbers():
    converted = validation.as_numbers(np.array([["1.5", 2, None]], dtype=object))
    assert converted.dtype == np.float64
    np.testing.assert_array_equal(converted, [[1.5, 2.0, np.nan]])
    with pytest.raises(BadRequest) as caught:
        validation.as_numbers(np.array([[1, 2], [3, "x"]], dtype=object))
    assert caught.value.message == "row 2, column 2: 'x' is not a number"
    assert caught.value.details == {"row": 2, "column": 2}


def test_validate_rows_composes_the_checks():
    rows = validation.validate_rows(np.array([["1", "2"]]), 2)
    assert rows.dtype == np.float64
    texts = np.array([["a", "b"]], dtype=object)
    assert validation.validate_rows(texts, 2, numeric=False) is texts
    with pytest.raises(BadRequest, match="each row must have 3 features; got 2"):
        validation.validate_rows(scipy.sparse.csr_matrix(np.ones((1, 2))), 3)
    documents = ["a document"]
    assert validation.validate_rows(documents, 3) is documents


def test_first_missing_and_non_finite_in_reading_order():
    rows = np.array([[1.0, 2.0, np.inf], [np.nan, 1.0, 2.0]])
    assert validation.first_missing(rows) == (2, 1)
    assert validation.first_non_finite(rows) == (1, 3)
    sparse = scipy.sparse.csr_matrix(np.array([[0.0, 0.0, 1.0], [0.0, np.nan, np.nan]]))
    assert validation.first_missing(sparse) == (2, 2)
    assert validation.first_missing(np.ones((2, 2))) is None
    assert validation.first_non_finite(np.array([[1, 2]])) is None  # integers are always finite


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "row 1, column 2 holds a missing value (NaN); the model takes finite numbers only"),
        (-np.inf, "row 1, column 2 holds -inf, not a finite number; the model takes finite numbers only"),
    ],
)
def test_require_finite(value, message):
    rows = np.array([[1.0, value]])
    with pytest.raises(BadRequest) as caught:
        validation.require_finite(rows)
    assert caught.value.message == message
    assert (caught.value.code, caught.value.details) == ("non_finite_value", {"row": 1, "column": 2})
    finite = np.ones((1, 2))
    assert validation.require_finite(finite) is finite
