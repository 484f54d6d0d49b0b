"""Batching code that never said it may: checked against the one-by-one path, never changing an answer.

The checker's decisions (pure), then real predict_fns through pipeline.predict_batch_checked: code
that answers each row as alone is batched once checked; code that must never be batched (it mixes
the rows of a batch, is random or stateful, answers in a shape that does not cut per request, or
fails on stacked rows) is refused at its first check, and every answer, during the checks and
after, is the one the request gets alone.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from container.config import ServerConfig
from container.contract import functions, registry
from container.contract.context import Context
from container.contract.spec import HandlerSpec
from container.errors import BadRequest
from container.inference import autobatch, pipeline
from container.inference.autobatch import BatchChecker, Check, Shape, State
from model_artifacts.train import train

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ServerConfig(model_dir=Path("/m"))
ACCEPT = "application/json"


# --- the checker's decisions ---------------------------------------------------------------------


def varied() -> bool:
    return False


def alike() -> bool:
    return True


def agree_until_on(checker: BatchChecker, shape: Shape, rows: tuple[int, ...] = (2, 3)) -> int:
    checks = 0
    while checker.state(shape) is State.CHECKING:
        size = rows[checks % len(rows)]
        assert checker.plan(shape, size, varied) is Check.FULL
        checker.agreed(shape, size, size)
        checks += 1
    return checks


def test_batching_starts_after_enough_agreeing_batches_of_more_than_one_size():
    checker = BatchChecker("inference")
    assert agree_until_on(checker, Shape.SINGLE, rows=(4,) * 10 + (5,)) == 11  # 10 of one size: not yet
    assert checker.state(Shape.SINGLE) is State.ON
    assert checker.state(Shape.MULTI) is State.CHECKING  # each kind of request on its own
    fresh = BatchChecker("inference")
    assert agree_until_on(fresh, Shape.SINGLE) == autobatch.NEEDED_AGREEMENTS


def test_a_batch_of_identical_requests_is_not_checked_nor_batched_while_checking():
    checker = BatchChecker("inference")
    assert checker.plan(Shape.SINGLE, 8, alike) is Check.ALONE
    agree_until_on(checker, Shape.SINGLE)
    assert checker.plan(Shape.SINGLE, 3, alike) is Check.NONE  # once on, they batch


def test_the_first_difference_turns_batching_off_for_good_with_the_reason(caplog):
    checker = BatchChecker("inference")
    agree_until_on(checker, Shape.SINGLE)
    with caplog.at_level(logging.WARNING, logger=autobatch.__name__):
        checker.differed(Shape.SINGLE, "request 2 of 3: the prediction[0] is 1 alone, 2 in the batch")
    assert checker.state(Shape.SINGLE) is State.OFF and not checker.batches(Shape.SINGLE)
    assert checker.plan(Shape.SINGLE, 3, varied) is Check.ALONE
    (record,) = caplog.records
    assert "batching off for good for single-row requests to inference.predict_fn: request 2 of 3" in (
        record.getMessage()
    )
    checker.agreed(Shape.SINGLE, 3, 3)  # nothing brings it back
    assert checker.state(Shape.SINGLE) is State.OFF
    assert not checker.all_off  # the multi-row requests are still being checked
    checker.differed(Shape.MULTI, "x")
    assert checker.all_off


def test_once_on_a_batch_of_a_new_size_is_checked_and_one_request_in_a_while_is_sampled():
    checker = BatchChecker("inference")
    agree_until_on(checker, Shape.MULTI, rows=(10, 20))
    assert checker.plan(Shape.MULTI, 40, varied) is Check.EDGES  # beyond the rows checked
    assert checker.sampled(Shape.MULTI, Check.EDGES, 4) == [0, 3]  # its first and last requests
    checker.agreed(Shape.MULTI, 4, 40)
    assert checker.plan(Shape.MULTI, 40, varied) is not Check.FULL  # now within them
    plans = [checker.plan(Shape.MULTI, 15, varied) for _ in range(3 * autobatch.SAMPLE_EVERY)]
    assert plans.count(Check.ONE) == 3 and plans.count(Check.FULL) == 0


def test_checks_are_bounded():
    checker = BatchChecker("inference")
    for _ in range(autobatch.MAX_CHECKS):  # always the same size: never enough to start
        assert checker.plan(Shape.SINGLE, 4, varied) is Check.FULL
        checker.agreed(Shape.SINGLE, 4, 4)
    assert checker.state(Shape.SINGLE) is State.OFF
    assert "64 batches checked, but only 1 size(s) of batch among them" in checker.reason(Shape.SINGLE)
    inconclusive = BatchChecker("inference")
    for _ in range(autobatch.MAX_CHECKS):
        inconclusive.inconclusive(Shape.MULTI)
    assert inconclusive.state(Shape.MULTI) is State.OFF
    on = BatchChecker("inference")
    agree_until_on(on, Shape.SINGLE)
    new_sizes = [on.plan(Shape.SINGLE, 100 + n, varied) for n in range(autobatch.MAX_RANGE_CHECKS + 5)]
    assert new_sizes.count(Check.EDGES) == autobatch.MAX_RANGE_CHECKS
    assert new_sizes[-1] is Check.ALONE  # unchecked sizes beyond the bound go one by one


# --- real predict_fns, through the pipeline -------------------------------------------------------


class Module:
    """A user module's functions, with every predict_fn call's row count recorded."""

    def __init__(self, predict: Callable[[np.ndarray], Any], output_fn: Callable | None = None) -> None:
        self.calls: list[int] = []
        module = ModuleType("inference")

        def predict_fn(data: np.ndarray, model: Any) -> Any:
            self.calls.append(len(data))
            return predict(data)

        module.predict_fn = predict_fn
        module.model_fn = lambda model_dir: "model"
        if output_fn is not None:
            module.output_fn = output_fn
        self.handler = functions.resolve(module, HandlerSpec(name="bare"))
        self.checker = BatchChecker("inference")


def item(rows: np.ndarray) -> pipeline.BatchItem:
    context = Context.for_request(CONFIG, {"content-type": "text/csv"}, ACCEPT, "r")
    return pipeline.BatchItem(rows, ACCEPT, context)


def batches(seed: int = 0, count: int = 30, rows: int = 1, width: int = 3) -> Iterator[list[np.ndarray]]:
    """Batches of 2 to 6 requests of varied rows (`rows` each; 0: 2 to 4 each)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        size = int(rng.integers(2, 7))
        yield [rng.normal(size=(rows or int(rng.integers(2, 5)), width)).round(3) for _ in range(size)]


def answers(outcomes: list[tuple[bool, Any]]) -> list[Any]:
    return [value.body if ok else repr(value.error) for ok, value in outcomes]


def alone(module: Module, inputs: list[np.ndarray], model: Any = "model") -> list[Any]:
    """What each request gets alone: the reference every answer must equal."""
    return answers(
        [pipeline._predict_alone(module.handler, model, item(rows), lambda n: None) for rows in inputs]
    )


def serve(module: Module, inputs: list[np.ndarray], model: Any = "model") -> list[Any]:
    outcomes = pipeline.predict_batch_checked(
        module.handler, model, [item(rows) for rows in inputs], lambda n: None, module.checker
    )
    return answers(outcomes)


def rowwise(data: np.ndarray) -> dict[str, Any]:
    return {"scores": data * 2 + 1, "labels": (data[:, 0] > 0).tolist(), "model": "v1"}


def test_a_predict_fn_that_answers_each_row_alone_is_batched_once_checked():
    module = Module(rowwise)
    for inputs in batches():
        expected = alone(Module(rowwise), inputs)
        assert serve(module, inputs) == expected
    assert module.checker.state(Shape.SINGLE) is State.ON
    calls_before = len(module.calls)
    inputs = [np.array([[0.5, 1.0, 2.0]]), np.array([[1.5, 1.0, 2.0]]), np.array([[2.5, 1.0, 2.0]])]
    assert serve(module, inputs) == alone(Module(rowwise), inputs)
    assert module.calls[calls_before:] == [3]  # one call for the three


# Code that must never be batched: each mixes the rows of a batch in its own way.
NEVER = {
    "normalises over the batch": lambda data: (data - data.mean(axis=0)) / (data.std(axis=0) + 1),
    "ranks the rows of the batch": lambda data: np.argsort(np.argsort(data[:, 0])),
    "seeds its random numbers per call": lambda data: data + np.random.default_rng(0).normal(size=data.shape),
    "answers one value per call": lambda data: float(data.sum()),
    "adds a per-batch list": lambda data: {"predictions": data[:, 0], "classes": ["a", "b", "c"]},
    "refuses more than one row": lambda data: data[:, 0] if len(data) == 1 else 1 / 0,
}


@pytest.mark.parametrize("why", list(NEVER))
def test_code_that_mixes_rows_is_never_batched_and_never_changes_an_answer(why):
    module = Module(NEVER[why])
    for inputs in batches(count=10):
        assert serve(module, inputs) == alone(Module(NEVER[why]), inputs)
    assert module.checker.state(Shape.SINGLE) is State.OFF, why
    # Refused at the first batch: after it, every call is a request alone.
    assert sorted(set(module.calls[1:])) == [1]


def test_random_and_stateful_code_is_refused_at_the_first_check():
    counter = iter(range(10**6))
    random = Module(lambda data: data + np.random.default_rng().normal(size=data.shape))
    stateful = Module(lambda data: [next(counter)] * len(data))
    for module in (random, stateful):
        for inputs in batches(count=3):
            serve(module, inputs)
        assert module.checker.state(Shape.SINGLE) is State.OFF
        assert "alone" in module.checker.reason(Shape.SINGLE)


def test_a_bad_request_in_a_checked_batch_fails_alone_and_proves_nothing():
    def refuse_negative(data: np.ndarray) -> np.ndarray:
        if (data[:, 0] < 0).any():
            raise BadRequest("a negative first value")
        return data[:, 0] * 2

    module = Module(refuse_negative)
    inputs = [np.array([[1.0, 0, 0]]), np.array([[-1.0, 0, 0]]), np.array([[2.0, 0, 0]])]
    got = serve(module, inputs)
    assert got == alone(Module(refuse_negative), inputs)
    assert got[0] == b"[2.0]" and "negative" in got[1]
    assert module.checker.state(Shape.SINGLE) is State.CHECKING


def test_identical_requests_are_predicted_alone_while_checking():
    module = Module(rowwise)
    inputs = [np.array([[1.0, 2.0, 3.0]])] * 4
    assert serve(module, inputs) == alone(Module(rowwise), inputs)
    assert module.calls == [1, 1, 1, 1]
    assert module.checker.state(Shape.SINGLE) is State.CHECKING


def test_single_rows_and_several_rows_are_checked_apart():
    # Mixes rows only when a batch is made of single rows (as a 1-row kernel would differ).
    def differs_for_single_rows(data: np.ndarray) -> np.ndarray:
        return data[:, 0] + (0.5 if len(data) > 1 and module.single_rows else 0.0)

    module = Module(differs_for_single_rows)
    module.single_rows = True
    for inputs in batches(count=3, rows=1):
        serve(module, inputs)
    module.single_rows = False
    for inputs in batches(count=12, rows=0):
        serve(module, inputs)
    assert module.checker.state(Shape.SINGLE) is State.OFF
    assert module.checker.state(Shape.MULTI) is State.ON


def test_a_difference_that_shows_late_is_caught_by_a_sample_and_its_batch_answered_alone():
    state = {"mixes": False}

    def late(data: np.ndarray) -> np.ndarray:
        return data[:, 0] - (data[:, 0].mean() if state["mixes"] else 0.0)

    module = Module(late)
    for inputs in batches(count=12):
        serve(module, inputs)
    assert module.checker.state(Shape.SINGLE) is State.ON
    state["mixes"] = True
    caught_after = None
    for number, inputs in enumerate(batches(seed=1, count=2 * autobatch.SAMPLE_EVERY), start=1):
        served = serve(module, inputs)
        if module.checker.state(Shape.SINGLE) is State.OFF:
            caught_after = number
            assert served == alone(Module(late), inputs)  # the batch that showed it: every answer alone
            break
    assert caught_after is not None and caught_after <= autobatch.SAMPLE_EVERY


def test_predict_fn_runs_twice_only_within_the_documented_bound():
    module = Module(rowwise)
    served_requests = 0
    for inputs in batches(count=400):
        serve(module, inputs)
        served_requests += len(inputs)
    extra_rows = sum(module.calls) - served_requests  # rows predicted a second time (1 per request)
    track = module.checker._tracks[Shape.SINGLE]
    bound = track.checks * 6 + track.range_checks * 2 + track.batches // autobatch.SAMPLE_EVERY
    assert 0 < extra_rows <= bound


def test_output_fn_that_writes_differently_in_a_batch_is_refused():
    def output_fn(prediction: Any, accept: str) -> str:
        # A view of a batch's array, not an array of its own: a difference the bytes show.
        return str(prediction.base is None)

    module = Module(lambda data: data[:, 0] * 2, output_fn)
    for inputs in batches(count=3):
        assert serve(module, inputs) == alone(Module(lambda data: data[:, 0] * 2, output_fn), inputs)
    assert "output_fn writes different bytes" in module.checker.reason(Shape.SINGLE)


# --- the seed's own inference.py and model ---------------------------------------------------------


def seed_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("inference", ROOT / "model_artifacts/code/inference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seeds_script_batches_several_rows_but_not_single_rows_whose_last_bits_differ():
    """BLAS rounds a single row (a vector kernel) differently from the same row in a matrix.

    The seed's output_fn rounds probabilities to 6 digits, so its encoded answers would mostly
    agree; its predictions do not, and an answer near a rounding boundary could change. The checks
    compare predictions bit for bit, so single rows are refused; several rows are a matrix alone
    too, and batch.
    """
    handler = functions.resolve(seed_module(), registry.load_spec("sklearn"))
    model = train()
    module = Module(lambda data: None)
    module.handler = handler
    rng = np.random.default_rng(3)
    for rows in (1, 0):
        for _ in range(20):
            inputs = [
                rng.uniform(0, 8, size=(rows or int(rng.integers(2, 6)), 4)).round(1)
                for _ in range(int(rng.integers(2, 7)))
            ]
            assert serve(module, inputs, model) == alone(module, inputs, model)
    assert module.checker.state(Shape.SINGLE) is State.OFF
    assert "['probabilities']" in module.checker.reason(Shape.SINGLE)
    assert module.checker.state(Shape.MULTI) is State.ON


def test_a_batch_of_a_size_never_checked_is_checked_at_its_edges_before_it_is_answered():
    # Answers like alone up to 12 rows, then takes a rougher path for bigger batches.
    def rougher_when_big(data: np.ndarray) -> np.ndarray:
        return np.round(data[:, 0], 1 if len(data) > 12 else 6)

    module = Module(rougher_when_big)
    for inputs in batches(count=12):  # 2 to 6 requests of one row: on, checked up to 6 rows
        serve(module, inputs)
    assert module.checker.state(Shape.SINGLE) is State.ON
    big = [np.array([[0.123456 + i, 0.0, 0.0]]) for i in range(16)]
    assert serve(module, big) == alone(Module(rougher_when_big), big)  # answered alone, all of them
    assert module.checker.state(Shape.SINGLE) is State.OFF
    assert "request 1 of 16" in module.checker.reason(Shape.SINGLE)


class Uncopyable:
    """A value that refuses a copy, as a tensor still attached to its autograd graph does."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __deepcopy__(self, memo: dict) -> Any:
        raise RuntimeError("Only Tensors created explicitly by the user support the deepcopy protocol")


class Incomparable(float):
    """A number whose comparison raises."""

    def hex(self) -> str:
        raise ValueError("no bits to show")


def _to_json_floats(prediction: Any, accept: str) -> tuple[str, str]:
    return json.dumps([float(v.value if isinstance(v, Uncopyable) else v) for v in prediction]), accept


@pytest.mark.parametrize(
    ("predict", "why"),
    [
        (lambda data: [Uncopyable(v) for v in data[:, 0]], "cannot be copied to be compared"),
        (lambda data: [Incomparable(v) for v in data[:, 0]], "cannot be compared"),
    ],
)
def test_a_prediction_that_cannot_be_compared_is_answered_alone_and_never_batched(predict, why):
    module = Module(predict, output_fn=_to_json_floats)
    for inputs in batches(count=3):
        got = serve(module, inputs)
        assert got == alone(Module(predict, output_fn=_to_json_floats), inputs)
        assert all(isinstance(answer, bytes) for answer in got)  # answers, not errors
    assert module.checker.state(Shape.SINGLE) is State.OFF
    assert why in module.checker.reason(Shape.SINGLE)


def test_inputs_that_never_stack_turn_batching_off_but_a_few_among_others_do_not():
    checker = BatchChecker("inference")
    for _ in range(autobatch.MAX_UNSTACKABLE - 1):
        checker.saw_input(False, "list")
    checker.saw_input(True, "ndarray")  # a run broken by one that stacks starts again
    for _ in range(autobatch.MAX_UNSTACKABLE - 1):
        checker.saw_input(False, "list")
    assert not checker.all_off
    checker.saw_input(False, "list")
    assert checker.all_off
    assert checker.reason(Shape.MULTI) == "64 inputs in a row were a list, which is not stacked"
