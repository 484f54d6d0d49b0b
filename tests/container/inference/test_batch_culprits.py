"""A bad request in a batch costs about its own share: checked alone first, found by bisection after.

predict_batch is driven directly with handler specs written here (pure logic: no server); each
predict_fn call is recorded, so the tests count the calls a culprit costs its batch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from container.contract import functions
from container.contract.context import Context
from container.contract.spec import HandlerOptions, HandlerSpec
from container.errors import BadRequest
from container.inference import pipeline


def handler_with(predict, validate_input=None) -> functions.Handler:
    spec = HandlerSpec(
        name="batch_test_handler",
        model_fn=lambda model_dir: None,
        input_fn=lambda data, content_type: data,
        predict_fn=predict,
        output_fn=lambda prediction, accept: (repr(np.asarray(prediction).tolist()), accept),
        options=HandlerOptions(batchable=True),
        validate_input=validate_input,
    )
    return functions.resolve(None, spec)


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


def run(handler, batch):
    sizes: list[int] = []
    outcomes = pipeline.predict_batch(handler, None, batch, sizes.append)
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


def test_a_request_refused_by_the_handlers_check_fails_before_any_batch():
    # The spec's validate_input runs on each request as it is decoded (validate_request), before
    # requests are stacked: the bad one never joins a batch, and costs no predict_fn call.
    recorder = Recorder()

    def check(data, model):
        if (data[:, 0] < 0).any():
            raise BadRequest("row 1, column 1 is negative", code="negative")
        return data

    handler = handler_with(recorder, validate_input=check)
    with pytest.raises(pipeline.StageFailure) as caught:
        pipeline.validate_request(handler, None, np.array([[-1.0, 1.0]]))
    assert caught.value.error.code == "negative"
    good = items([float(i + 1) for i in range(31)])
    outcomes, counted = run(
        handler,
        [
            pipeline.BatchItem(pipeline.validate_request(handler, None, item.data), item.accept, item.context)
            for item in good
        ],
    )
    assert recorder.calls == [31] and counted == [31]
    assert all(ok for ok, _ in outcomes)


def test_a_prediction_that_cannot_be_split_is_predicted_item_by_item():
    calls: list[int] = []

    def predict(data, model):
        calls.append(len(data))
        return [data.sum()]  # one value for the whole batch

    outcomes, _ = run(handler_with(predict), items([1.0, 2.0, 3.0, 4.0]))
    assert calls == [4, 1, 1, 1, 1]
    assert [value.body for _, value in outcomes] == [b"[2.0]", b"[3.0]", b"[4.0]", b"[5.0]"]
