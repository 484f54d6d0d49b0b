"""Response encoders (container.codecs.encode): the documented shape of each format.

The scikit-learn handler's prediction table is written by its own output_fn (tests/handlers).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse

from container.codecs import encode
from container.codecs.mediatypes import CSV, JSON, JSONLINES, NPY
from container.errors import NotAcceptable


def load_npy(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


# --- other predictions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "body"),
    [
        (np.array([1, 2, 3]), b"[1,2,3]"),
        (np.array([[1.5, 2.0]], dtype=np.float32), b"[[1.5,2.0]]"),
        (np.arange(6).reshape(2, 3)[:, ::2], b"[[0,2],[3,5]]"),  # not contiguous
        (np.array([1, 2], dtype=">i4"), b"[1,2]"),  # big-endian
        (np.array([[1, "a"]], dtype=object), b'[[1,"a"]]'),
        (np.array([1.5, np.nan]), b"[1.5,null]"),
        (np.float32(0.5), b"0.5"),
        ({"label": np.int64(3), "pair": (1, 2)}, b'{"label":3,"pair":[1,2]}'),
        ({1: "one"}, b'{"1":"one"}'),
        (scipy.sparse.csr_matrix([[0, 1]]), b"[[0,1]]"),
        ("text", b'"text"'),
    ],
)
def test_json_of_other_values(prediction, body):
    assert encode.encode(prediction, JSON) == body


@pytest.mark.parametrize(
    ("prediction", "body"),
    [
        (np.float64(2.5), b"2.5\n"),
        (np.array([1, 2]), b"1\n2\n"),
        ([[1, 2], [3, 4]], b"1,2\n3,4\n"),
        (np.array([[1.5, np.nan]]), b"1.5,nan\n"),
    ],
)
def test_csv_of_other_values(prediction, body):
    assert encode.encode(prediction, CSV) == body


def test_csv_refuses_3d_with_406():
    with pytest.raises(NotAcceptable) as caught:
        encode.encode(np.zeros((2, 2, 2)), CSV)
    assert caught.value.status_code == 406
    assert caught.value.details == {"supported": [JSON, JSONLINES, NPY]}
    assert "(2, 2, 2)" in caught.value.message


@pytest.mark.parametrize(
    ("prediction", "body"),
    [
        (np.array([[1, 2], [3, 4]]), b"[1,2]\n[3,4]\n"),
        (np.array([1, 2]), b"1\n2\n"),
        (5, b"5\n"),
        ({"x": 1}, b'{"x":1}\n'),
    ],
)
def test_jsonlines_of_other_values(prediction, body):
    assert encode.encode(prediction, JSONLINES) == body


def test_npy_of_an_array():
    array = np.arange(6, dtype=np.float32).reshape(3, 2)
    result = load_npy(encode.encode(array, NPY))
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, array)


def test_npy_refuses_objects_with_406():
    with pytest.raises(NotAcceptable) as caught:
        encode.encode(np.array([{"a": 1}], dtype=object), NPY)
    assert caught.value.details == {"supported": [JSON, JSONLINES, CSV]}


def test_unknown_type_is_406_listing_the_encoders():
    with pytest.raises(NotAcceptable) as caught:
        encode.encode([1], "image/png")
    assert caught.value.status_code == 406
    assert caught.value.details == {"supported": sorted(encode.ENCODERS)}
