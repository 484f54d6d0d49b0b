"""The request stages (container.inference.pipeline), the batching policy, and the load decisions.

In process, with small user modules: what each stage hands the next, who is blamed for a failure,
how many requests each predict_fn call is counted as serving, and where a model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from container.config import ServerConfig
from container.contract import functions, registry
from container.contract.context import Context
from container.errors import DECODE, ENCODE, PREDICT
from container.inference import pipeline
from container.inference.batching import LONE_BATCH_SIZE, BatchPolicy
from container.inference.lifecycle import ModelLifecycle, ModelState
from container.telemetry.metrics import Metrics

CONFIG = ServerConfig(model_dir=Path("/m"))


def resolve(**defined) -> functions.Handler:
    module = ModuleType("user")
    for name, function in defined.items():
        setattr(module, name, function)
    options = defined.pop("options", None)
    if options is not None:
        module.BYOC_HANDLER_OPTIONS = options
    return functions.resolve(module, registry.load_spec("sklearn"))


def context(content_type: str | None = "text/csv") -> Context:
    headers = {} if content_type is None else {"content-type": content_type}
    return Context.for_request(CONFIG, headers, "application/json", "r1")


class Doubler:
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return rows[:, 0] * 2


# --- invoke: the stages -----------------------------------------------------------------------


def test_a_request_goes_through_the_three_steps_and_is_counted_once():
    counted: list[int] = []
    outcome = pipeline.invoke(
        resolve(predict_fn=lambda data, model: model.predict(data)),
        Doubler(),
        b"1,2\n3,4",
        "application/json",
        context(),
        counted.append,
    )
    assert outcome.body == b"[2.0,6.0]" and outcome.content_type == "application/json"
    assert counted == [1]


@pytest.mark.parametrize(
    ("defined", "body", "stage"),
    [
        ({}, b"1,x\n", DECODE),  # the runtime's decoder refuses it (a header row, then nothing)
        ({"predict_fn": lambda data, model: 1 / 0}, b"1,2", PREDICT),
        ({"output_fn": lambda prediction, accept: 42}, b"1,2", ENCODE),  # not bytes or str
    ],
)
def test_a_failure_names_its_stage(defined, body, stage):
    counted: list[int] = []
    handler = resolve(**{"predict_fn": lambda data, model: model.predict(data), **defined})
    with pytest.raises(pipeline.StageFailure) as caught:
        pipeline.invoke(handler, Doubler(), body, "application/json", context(), counted.append)
    assert caught.value.stage == stage
    assert counted == ([] if stage == DECODE else [1])  # a request that never reached predict_fn is not


def test_transform_fn_gets_the_text_and_its_failures_are_the_models():
    seen = {}

    def transform_fn(model, input_data, content_type, accept):
        seen.update(data=input_data, content_type=content_type)
        raise ValueError("bad")

    with pytest.raises(pipeline.StageFailure) as caught:
        pipeline.invoke(
            resolve(transform_fn=transform_fn),
            None,
            b"1,2",
            "text/csv",
            context("Text/CSV; charset=utf-8"),
            lambda size: None,
        )
    assert caught.value.stage == PREDICT
    assert seen == {"data": "1,2", "content_type": "text/csv"}


def test_an_unparseable_content_type_reaches_a_custom_input_fn_as_sent():
    seen = []
    handler = resolve(input_fn=lambda data, content_type: seen.append((data, content_type)) or data)
    pipeline.decode_request(handler, b"raw", context("not a type"))
    assert seen == [(b"raw", "not a type")]


# --- predict_batch ----------------------------------------------------------------------------


def items(*rows: list[float]) -> list[pipeline.BatchItem]:
    return [pipeline.BatchItem(np.array([row]), "application/json", context()) for row in rows]


def test_a_batch_is_one_predict_call_split_back_per_request():
    calls: list[int] = []

    def predict_fn(data, model):
        calls.append(len(data))
        return model.predict(data)

    counted: list[int] = []
    outcomes = pipeline.predict_batch(
        resolve(predict_fn=predict_fn), Doubler(), items([1.0], [2.0], [3.0]), counted.append
    )
    assert [value.body for ok, value in outcomes] == [b"[2.0]", b"[4.0]", b"[6.0]"]
    assert calls == [3] and counted == [3]


def test_a_failing_batch_fails_only_the_request_at_fault():
    def predict_fn(data, model):
        if np.isnan(data).any():
            raise ValueError("NaN")
        return model.predict(data)

    counted: list[int] = []
    outcomes = pipeline.predict_batch(
        resolve(predict_fn=predict_fn), Doubler(), items([1.0], [np.nan], [3.0]), counted.append
    )
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert outcomes[1][1].stage == PREDICT
    assert outcomes[2][1].body == b"[6.0]"
    assert counted == [3]  # the batch call; the retries are not counted again


# --- the batching policy ----------------------------------------------------------------------


def test_a_lone_request_skips_batching_until_traffic_builds_up():
    policy = BatchPolicy(enabled=True)
    assert not policy.takes_batch_path(1)
    assert policy.takes_batch_path(2)
    for _ in range(10):
        policy.record(8)
    assert policy.recent_batch_size >= LONE_BATCH_SIZE
    assert policy.takes_batch_path(1)  # company is about to arrive
    for _ in range(30):
        policy.record(1)
    assert not policy.takes_batch_path(1)


def test_a_disabled_policy_never_batches_and_the_runner_never_gathers():
    policy = BatchPolicy(enabled=False, max_batch_size=32)
    assert not policy.takes_batch_path(50)
    assert policy.runner_batch_size == 1
    assert BatchPolicy(enabled=True, max_batch_size=32).runner_batch_size == 32


# --- where the model is loaded ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("preload_setting", "options", "expected"),
    [(True, {"preload": True}, True), (False, {"preload": True}, False), (True, {}, False)],
)
def test_the_model_is_loaded_before_the_fork_only_when_both_allow_it(preload_setting, options, expected):
    handler = resolve(model_fn=lambda model_dir: object(), options=options)
    config = ServerConfig(model_dir=Path("/m"), preload=preload_setting)
    assert ModelLifecycle(config, handler, Metrics()).loads_before_fork is expected


def test_a_load_failure_is_reported_without_the_exceptions_text(tmp_path):
    def model_fn(model_dir):
        raise RuntimeError(f"cannot read {model_dir}/secret-token")

    handler = resolve(model_fn=model_fn)
    lifecycle = ModelLifecycle(ServerConfig(model_dir=tmp_path), handler, Metrics())
    lifecycle.load_before_fork()
    health = lifecycle.health()
    assert (health.ready, health.state) == (False, ModelState.FAILED)
    assert health.reason == (
        "the model failed to load: model_fn raised RuntimeError; the container log has the traceback"
    )
