"""A bad request in a batch costs about its own share: checked alone first, found by bisection after.

predict_batch is driven directly with handler modules written here (pure logic: no server); each
predict_fn call is recorded, so the tests count the calls a culprit costs its batch.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from container.contract import functions
from container.contract.context import Context
from container.errors import BadRequest
from container.inference import pipeline


def handler_with(predict, options=None) -> functions.Handler:
    module = types.ModuleType("batch_test_handler")
    module.model_fn = lambda model_dir: None
    module.input_fn = lambda data, content_type: data
    module.predict_fn = predict
    module.output_fn = lambda prediction, accept: (repr(np.asarray(prediction).tolist()), accept)
    module.BYOC_HANDLER_OPTIONS = {"batchable": True, **(options or {})}
    return functions.resolve(None, module)


def items(values: list[float]) -> list[pipeline.BatchItem]:
    return [pipeline.BatchItem(np.array([[v, 1.0]]), "text/plain", Context(model_dir="/m")) for v in values]


class Recorder:
    """predict_fn that refuses any call holding a negative first value, and records every call's size."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, data, model):
        self.calls.append(len(data))
        if (data[:, 0] < 0).any():
            raise ValueError("negative")
        return data[:, 0] * 10


def run(handler, batch, check=None):
    sizes: list[int] = []
    outcomes = pipeline.predict_batch(handler, None, batch, sizes.append, check_rows=check)
    return outcomes, sizes


@pytest.mark.parametrize("culprit", [0, 13, 31])
def test_one_culprit_among_32_costs_a_bisection_not_a_call_per_neighbour(culprit):
    recorder = Recorder()
    values = [float(i + 1) for i in range(32)]
    values[culprit] = -1.0
    outcomes, counted = run(handler_with(recorder), items(values))
    assert len(recorder.calls) <= 1 + 2 * math.log2(32)  # 11, where predicting each alone took 33
    assert counted == [32]  # one batch, as the metrics and the batching policy see it
    for index, (ok, value) in enumerate(outcomes):
        if index == culprit:
            assert not ok and isinstance(value.error, ValueError)
        else:
            assert ok and value.body == repr([values[index] * 10]).encode()


def test_several_culprits_are_each_found_and_the_rest_answered():
    recorder = Recorder()
    values = [-1.0 if i in (2, 3, 20) else float(i) for i in range(32)]
    outcomes, _ = run(handler_with(recorder), items(values))
    assert [ok for ok, _ in outcomes] == [i not in (2, 3, 20) for i in range(32)]
    assert len(recorder.calls) < 32


def test_a_request_refused_by_the_handlers_check_never_joins_the_batch():
    recorder = Recorder()

    def check(data, model):
        if (data[:, 0] < 0).any():
            raise BadRequest("row 1, column 1 is negative", code="negative")

    handler = handler_with(recorder, {"check_rows": check})
    assert pipeline.row_check(handler) is check
    values = [float(i + 1) for i in range(32)]
    values[7] = -1.0
    outcomes, counted = run(handler, items(values), pipeline.row_check(handler))
    assert recorder.calls == [31]  # one call, without the bad request
    assert counted == [31]
    ok, failure = outcomes[7]
    assert not ok and failure.error.code == "negative"
    assert all(ok for index, (ok, _) in enumerate(outcomes) if index != 7)


def test_a_check_offered_by_another_module_than_predict_fns_is_not_used():
    handler_module = types.ModuleType("handler_with_check")
    handler_module.model_fn = lambda model_dir: None
    handler_module.predict_fn = lambda data, model: data
    handler_module.BYOC_HANDLER_OPTIONS = {"check_rows": lambda data, model: None}
    user_module = types.ModuleType("user_predict")
    user_module.predict_fn = lambda data, model: data
    assert pipeline.row_check(functions.resolve(user_module, handler_module)) is None


def test_a_prediction_that_cannot_be_split_is_predicted_item_by_item():
    calls: list[int] = []

    def predict(data, model):
        calls.append(len(data))
        return [data.sum()]  # one value for the whole batch

    outcomes, _ = run(handler_with(predict), items([1.0, 2.0, 3.0, 4.0]))
    assert calls == [4, 1, 1, 1, 1]
    assert [value.body for _, value in outcomes] == [b"[2.0]", b"[3.0]", b"[4.0]", b"[5.0]"]
