"""The ONNX handler: models the tests build (skl2onnx from scikit-learn, and graphs made with the onnx
helper API), inputs validated against what the model declares, outputs by name, and a real server.

torch is not used: the CPU wheel on this machine is a 200 MB install for a test that an onnx.helper graph
makes as well (the handler sees an ONNX file either way).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from server_helpers import client, error_body, serving
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from container.errors import BadRequest, InferenceError, NotAcceptable
from container.serving.server_process import ServerProcess
from handlers import onnx as onnx_handler

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def iris_classifier() -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y)


def write_sklearn_model(directory: Path, zipmap: bool = False) -> Path:
    estimator = iris_classifier()
    model = to_onnx(estimator, IRIS_X[:1].astype(np.float32), options={id(estimator): {"zipmap": zipmap}})
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(model.SerializeToString())
    return directory


def write_two_input_model(directory: Path, batch: str | int = "batch") -> Path:
    """score = features @ [[1], [2], [3]] + float(offset): a float input of width 3 and an int64 input."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "weights"], ["product"]),
            helper.make_node("Cast", ["offset"], ["offset_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["product", "offset_float"], ["score"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 3]),
            helper.make_tensor_value_info("offset", TensorProto.INT64, [batch, 1]),
        ],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [batch, 1])],
        initializer=[helper.make_tensor("weights", TensorProto.FLOAT, [3, 1], [1.0, 2.0, 3.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(model.SerializeToString())
    return directory


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> onnx_handler.OnnxModel:
    return onnx_handler.model_fn(str(write_sklearn_model(tmp_path_factory.mktemp("iris"))))


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory: pytest.TempPathFactory) -> onnx_handler.OnnxModel:
    return onnx_handler.model_fn(str(write_two_input_model(tmp_path_factory.mktemp("two"))))


def run(model: onnx_handler.OnnxModel, body: str | bytes, content_type: str = "application/json"):
    return onnx_handler.predict_fn(onnx_handler.input_fn(body, content_type), model)


# --- what the model declares ---------------------------------------------------------------------


def test_inputs_and_outputs_are_read_from_the_model(
    classifier: onnx_handler.OnnxModel, two_inputs: onnx_handler.OnnxModel
) -> None:
    assert classifier.inputs == (onnx_handler.InputSpec("X", (None, 4), "tensor(float)"),)
    assert classifier.outputs == ("label", "probabilities")
    assert [(s.name, s.shape, s.onnx_type) for s in two_inputs.inputs] == [
        ("features", (None, 3), "tensor(float)"),
        ("offset", (None, 1), "tensor(int64)"),
    ]
    assert two_inputs.batch_axis_open


def test_a_scikit_learn_model_predicts_what_scikit_learn_does(classifier: onnx_handler.OnnxModel) -> None:
    estimator = iris_classifier()
    rows = IRIS_X[[0, 70, 140]]
    outputs = run(classifier, json.dumps(rows.tolist()))["outputs"]
    assert outputs["label"].tolist() == estimator.predict(rows).tolist()
    np.testing.assert_allclose(outputs["probabilities"], estimator.predict_proba(rows), rtol=1e-4, atol=1e-6)
    csv_outputs = run(classifier, "\n".join(",".join(map(str, r)) for r in rows), "text/csv")["outputs"]
    assert csv_outputs["label"].tolist() == outputs["label"].tolist()


def test_named_inputs_in_json(two_inputs: onnx_handler.OnnxModel) -> None:
    body = json.dumps({"inputs": {"features": [[1, 1, 1], [0, 0, 2]], "offset": [[10], [-1]]}})
    assert run(two_inputs, body)["outputs"]["score"].tolist() == [[16.0], [5.0]]
    flat = json.dumps({"features": [[1, 0, 0]], "offset": [[0]]})
    assert run(two_inputs, flat)["outputs"]["score"].tolist() == [[1.0]]


# --- validation: a 400 naming the input and what it expects -------------------------------------


def test_a_wrong_width_names_the_input_and_its_shape(classifier: onnx_handler.OnnxModel) -> None:
    with pytest.raises(BadRequest) as raised:
        run(classifier, "[[1, 2, 3]]")
    assert raised.value.code == "wrong_shape"
    assert "input 'X' must have shape [N, 4] of float; got [1, 3]" in raised.value.message
    assert raised.value.details == {"input": "X", "expected": [None, 4], "found": [1, 3]}


def test_a_wrong_type_names_the_input(two_inputs: onnx_handler.OnnxModel) -> None:
    fraction = json.dumps({"features": [[1, 1, 1]], "offset": [[0.5]]})
    with pytest.raises(BadRequest, match=r"input 'offset' takes whole numbers \(\[N, 1\] of int64\)"):
        run(two_inputs, fraction)
    text = json.dumps({"features": [["a", "b", "c"]], "offset": [[1]]})
    with pytest.raises(BadRequest, match=r"input 'features': row 1, column 1: 'a' is not a number"):
        run(two_inputs, text)


def test_missing_unknown_and_unnamed_inputs(two_inputs: onnx_handler.OnnxModel) -> None:
    with pytest.raises(BadRequest) as raised:
        run(two_inputs, json.dumps({"features": [[1, 1, 1]], "extra": [[1]]}))
    assert raised.value.details == {"missing": ["offset"], "unknown": ["extra"]}
    with pytest.raises(BadRequest, match="the model has 2 inputs") as unnamed:
        run(two_inputs, "[[1, 1, 1]]")
    assert unnamed.value.code == "named_inputs_required"
    with pytest.raises(BadRequest, match="different numbers of rows"):
        run(two_inputs, json.dumps({"features": [[1, 1, 1], [1, 1, 1]], "offset": [[1]]}))


def test_a_fixed_batch_size_is_enforced(tmp_path: Path) -> None:
    fixed = onnx_handler.model_fn(str(write_two_input_model(tmp_path, batch=1)))
    assert not fixed.batch_axis_open
    with pytest.raises(BadRequest, match=r"input 'features' must have shape \[1, 3\]"):
        run(fixed, json.dumps({"features": [[1, 1, 1], [2, 2, 2]], "offset": [[1], [1]]}))


# --- batching along the open first axis ----------------------------------------------------------


def test_stacked_requests_split_back_equal_one_by_one(classifier: onnx_handler.OnnxModel) -> None:
    """What the runtime does with batchable handlers: stack rows, predict once, cut the outputs by rows.

    Labels are equal; probabilities to float32's last places only, as ONNX Runtime multiplies one row
    and several rows with different kernels, which add in different orders."""
    requests = [IRIS_X[[0]], IRIS_X[[50, 100]], IRIS_X[[149]]]
    stacked = onnx_handler.predict_fn(np.concatenate(requests), classifier)
    parts = onnx_handler.split_rows(stacked, [len(r) for r in requests])
    for rows, part in zip(requests, parts, strict=True):
        alone = onnx_handler.predict_fn(rows, classifier)["outputs"]
        assert part["outputs"]["label"].tolist() == alone["label"].tolist()
        np.testing.assert_allclose(
            part["outputs"]["probabilities"], alone["probabilities"], rtol=1e-5, atol=1e-7
        )


# --- responses -----------------------------------------------------------------------------------


def test_outputs_by_name_in_every_format(classifier: onnx_handler.OnnxModel) -> None:
    prediction = run(classifier, json.dumps(IRIS_X[[0, 100]].tolist()))
    labels = prediction["outputs"]["label"].tolist()
    probabilities = prediction["outputs"]["probabilities"].tolist()
    body, content_type = onnx_handler.output_fn(prediction, "application/json")
    assert content_type == "application/json"
    # float32 values are written in float32's shortest form, which reads back to the same float32.
    written = json.loads(body)["outputs"]
    assert written["label"] == labels
    assert np.array(written["probabilities"], dtype=np.float32).tolist() == probabilities
    lines, _ = onnx_handler.output_fn(prediction, "application/jsonlines")
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [row["label"] for row in rows] == labels
    assert np.array([row["probabilities"] for row in rows], dtype=np.float32).tolist() == probabilities
    csv_body, _ = onnx_handler.output_fn(prediction, "text/csv")
    assert csv_body.decode().splitlines()[0].split(",")[0] == str(labels[0])
    assert len(csv_body.decode().splitlines()[0].split(",")) == 4
    with pytest.raises(NotAcceptable, match="2 outputs"):
        onnx_handler.output_fn(prediction, "application/x-npy")


def test_zipmap_outputs_of_skl2onnx_serve_too(tmp_path: Path) -> None:
    """skl2onnx's default ZipMap output is a list of {class: probability} per row."""
    model = onnx_handler.model_fn(str(write_sklearn_model(tmp_path, zipmap=True)))
    prediction = run(model, json.dumps(IRIS_X[[0]].tolist()))
    body, _ = onnx_handler.output_fn(prediction, "application/json")
    probabilities = json.loads(body)["outputs"]["output_probability"][0]
    assert set(probabilities) == {"0", "1", "2"}
    csv_body, _ = onnx_handler.output_fn(prediction, "text/csv")
    assert len(csv_body.decode().strip().split(",")) == 4


def test_single_output_npy(two_inputs: onnx_handler.OnnxModel) -> None:
    prediction = run(two_inputs, json.dumps({"features": [[1, 1, 1]], "offset": [[1]]}))
    body, _ = onnx_handler.output_fn(prediction, "application/x-npy")
    assert np.load(io.BytesIO(body)).tolist() == [[7.0]]


def test_loading_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(InferenceError, match=r"no \.onnx file"):
        onnx_handler.model_fn(str(tmp_path))
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(InferenceError, match="not a model ONNX Runtime"):
        onnx_handler.model_fn(str(tmp_path))


# --- through a real server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    model_dir = write_two_input_model(tmp_path_factory.mktemp("served") / "model")
    with serving(model_dir, env={"BYOC_HANDLER": "onnx"}) as running:
        yield running


@pytest.mark.integration
def test_served_named_inputs_and_a_400_naming_the_input(server: ServerProcess) -> None:
    with client(server) as http:
        good = {"inputs": {"features": [[1, 2, 3]], "offset": [[1]]}}
        response = http.post("/invocations", json=good, headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text
        assert response.json() == {"outputs": {"score": [[15.0]]}}
        wide = {"inputs": {"features": [[1, 2, 3, 4]], "offset": [[1]]}}
        body = error_body(http.post("/invocations", json=wide), 400, "wrong_shape")
        assert body["input"] == "features" and body["expected"] == [None, 3]
        unnamed = http.post("/invocations", content="1,2,3", headers={"Content-Type": "text/csv"})
        assert error_body(unnamed, 400, "named_inputs_required")["inputs"] == ["features", "offset"]


def test_named_inputs_reject_ragged_rows(two_inputs: onnx_handler.OnnxModel) -> None:
    with pytest.raises(BadRequest, match="input 'features': the rows have different lengths"):
        run(two_inputs, json.dumps({"features": [[1, 2, 3], [3]], "offset": [[1], [1]]}))


def test_a_body_that_is_not_json_is_the_runtime_s_400(classifier: onnx_handler.OnnxModel) -> None:
    with pytest.raises(BadRequest):
        onnx_handler.input_fn(b"{not json", "application/json")
    assert httpx  # the server test above uses it
