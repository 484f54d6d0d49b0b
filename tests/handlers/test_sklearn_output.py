"""The scikit-learn handler's output_fn: its {"predictions", "probabilities", "classes"} table in each format.

Moved from tests/container/codecs/test_encode.py when the table became the handler's own shape.
"""

from __future__ import annotations

import io

import numpy as np
import orjson

from container.codecs.mediatypes import CSV, JSON, JSONLINES, NPY
from handlers import sklearn as handler


def written(prediction, media_type: str) -> bytes:
    body, content_type = handler.output_fn(prediction, media_type)
    assert content_type == media_type
    return body


def load_npy(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


def iris_table() -> dict[str, np.ndarray]:
    return {
        "predictions": np.array([0, 2]),
        "probabilities": np.array([[0.98, 0.02, 0.0], [0.1, 0.2, 0.7]]),
        "classes": np.array([0, 1, 2]),
    }


def test_table_as_json():
    assert orjson.loads(written(iris_table(), JSON)) == {
        "predictions": [0, 2],
        "probabilities": [[0.98, 0.02, 0.0], [0.1, 0.2, 0.7]],
        "classes": [0, 1, 2],
    }


def test_table_as_jsonlines_has_one_object_per_row():
    assert written(iris_table(), JSONLINES) == (
        b'{"prediction":0,"probabilities":[0.98,0.02,0.0]}\n{"prediction":2,"probabilities":[0.1,0.2,0.7]}\n'
    )


def test_table_as_csv_keeps_integer_labels_integers():
    assert written(iris_table(), CSV) == b"0,0.98,0.02,0.0\n2,0.1,0.2,0.7\n"


def test_table_as_npy_is_the_predictions_alone():
    result = load_npy(written(iris_table(), NPY))
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, [0, 2])


def test_table_with_string_labels():
    table = {
        "predictions": np.array(["setosa", "virginica"]),
        "probabilities": np.array([[0.9, 0.1], [0.25, 0.75]]),
        "classes": np.array(["setosa", "virginica"]),
    }
    assert written(table, CSV) == b"setosa,0.9,0.1\nvirginica,0.25,0.75\n"
    assert (
        written(table, JSONLINES).splitlines()[1] == b'{"prediction":"virginica","probabilities":[0.25,0.75]}'
    )
    assert orjson.loads(written(table, JSON))["classes"] == ["setosa", "virginica"]


def test_table_without_probabilities():
    table = {"predictions": np.array([1.5, -2.0])}
    assert written(table, CSV) == b"1.5\n-2.0\n"
    assert written(table, JSONLINES) == b'{"prediction":1.5}\n{"prediction":-2.0}\n'
    assert written(table, JSON) == b'{"predictions":[1.5,-2.0]}'


def test_table_with_multi_output_predictions_as_csv():
    table = {"predictions": np.array([[1, 2], [3, 4]])}
    assert written(table, CSV) == b"1,2\n3,4\n"


def test_csv_quotes_labels_that_need_it():
    table = {"predictions": ["a,b", 'say "hi"']}
    assert written(table, CSV) == b'"a,b"\n"say ""hi"""\n'


def test_is_table():
    assert handler.is_table({"predictions": []})
    assert not handler.is_table({"prediction": []})
    assert not handler.is_table([["predictions"]])


def test_what_is_not_a_table_goes_to_the_runtimes_encoders():
    assert written(np.array([[1, 2], [3, 4]]), JSONLINES) == b"[1,2]\n[3,4]\n"
    assert written(np.array([1.5, 2.0]), CSV) == b"1.5\n2.0\n"
    assert written([1.5], JSON) == b"[1.5]"


def test_a_batch_table_is_cut_by_its_per_row_values():
    table = {"predictions": np.array([0, 1, 2]), "probabilities": np.eye(3), "classes": np.array([0, 1, 2])}
    first, second = handler.split_rows(table, [2, 1])
    assert first["predictions"].tolist() == [0, 1] and second["probabilities"].tolist() == [[0, 0, 1]]
    assert first["classes"].tolist() == second["classes"].tolist() == [0, 1, 2]
