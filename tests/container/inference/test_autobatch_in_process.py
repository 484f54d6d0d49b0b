"""Checked batching in a worker's app (tests/in_process.py): who is batched, what shares a batch, and
that concurrent requests get, byte for byte, what they get with batching off."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import ModuleType

import joblib
import numpy as np
import pytest
from in_process import in_process_server
from test_autobatch import seed_module

from container.inference.autobatch import Shape, State

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def model_dir(tmp_path: Path, trained_model) -> Path:
    joblib.dump(trained_model, tmp_path / "model.joblib")
    return tmp_path


def module(options: dict | None = None, **functions) -> ModuleType:
    made = ModuleType("inference")
    for name, function in functions.items():
        setattr(made, name, function)
    if options is not None:
        made.BYOC_HANDLER_OPTIONS = options
    return made


def rowwise(data, model):
    return {"first": data[:, 0], "width": data.shape[1]}


def with_context(data, model, context):
    return data[:, 0]


@pytest.mark.parametrize(
    ("user", "env", "batched", "checked"),
    [
        (module(predict_fn=rowwise), {}, True, True),  # said nothing: checked first
        (module({"preload": True}, predict_fn=rowwise), {}, True, True),
        (module({"batchable": True}, predict_fn=rowwise), {}, True, False),  # taken at its word
        (module({"batchable": False}, predict_fn=rowwise), {}, False, False),
        (module(predict_fn=rowwise), {"BYOC_BATCHING": "off"}, False, False),
        (module(predict_fn=with_context), {}, False, False),  # whose context would a batch get?
        (None, {}, True, False),  # the scikit-learn handler declares batchable
    ],
)
async def test_who_is_batched(model_dir, user, env, batched, checked):
    async with in_process_server(model_dir, user_module=user, env=env) as server:
        assert server.invoker.policy.enabled is batched
        assert (server.invoker.checker is not None) is checked


async def post_all(server, bodies: list[tuple[bytes, str]]) -> list[bytes]:
    responses = await asyncio.gather(
        *(
            server.client.post("/invocations", content=body, headers={"Content-Type": content_type})
            for body, content_type in bodies
        )
    )
    return [(r.status_code, r.content) for r in responses]


def requests(count: int, seed: int = 0) -> list[tuple[bytes, str]]:
    """1-row and 2-5-row requests of the seed's four features, in CSV and JSON."""
    rng = np.random.default_rng(seed)
    made = []
    for index in range(count):
        rows = rng.uniform(0, 8, size=(1 if index % 2 else int(rng.integers(2, 6)), 4)).round(2)
        if index % 3:
            made.append(("".join(",".join(map(str, row)) + "\n" for row in rows).encode(), "text/csv"))
        else:
            made.append((json.dumps(rows.tolist()).encode(), "application/json"))
    return made


async def test_the_seeds_unchanged_script_answers_exactly_as_with_batching_off(model_dir):
    bodies = requests(240)
    async with in_process_server(model_dir, user_module=seed_module(), env={"BYOC_BATCHING": "off"}) as off:
        expected = [await post_all(off, [body]) for body in bodies]
    async with in_process_server(model_dir, user_module=seed_module()) as on:
        for _ in range(3):
            assert await post_all(on, bodies) == [answer for (answer,) in expected]
        checker = on.invoker.checker
        assert checker.state(Shape.MULTI) is State.ON
        assert checker.state(Shape.SINGLE) is State.OFF  # their last bits differ: see test_autobatch


async def test_inputs_that_do_not_stack_never_share_a_call(model_dir):
    seen: list[tuple] = []

    def input_fn(body, content_type):
        # Widths, dtypes and ragged rows as the client sent them.
        rows = json.loads(body)
        try:
            return np.array(rows)
        except ValueError:
            return np.array(rows, dtype=object)

    def predict_fn(data, model):
        seen.append((data.shape, data.dtype.str))
        return {"first": [str(row[0]) for row in data]}

    user = module(input_fn=input_fn, predict_fn=predict_fn)
    bodies = [
        kind
        for n in range(20)  # each different, as alike requests are not worth a check
        for kind in (
            [[1.5, 2.0, n]],  # float64, 3 wide
            [[1.5, 2.0, 3.0, n]],  # 4 wide
            [[1, 2, n]],  # int64
            [[1.5, 2.0], [n]],  # ragged
            [["a", "b", str(n)]],  # strings
        )
    ]
    async with in_process_server(model_dir, user_module=user) as server:
        answers = await post_all(server, [(json.dumps(b).encode(), "application/json") for b in bodies])
    assert {status for status, _ in answers} == {200}
    assert [json.loads(body)["first"][0] for _, body in answers[:5]] == ["1.5", "1.5", "1", "1.5", "a"]
    shapes = {(shape[1:], dtype) for shape, dtype in seen}
    assert shapes == {((3,), "<f8"), ((4,), "<f8"), ((3,), "<i8"), ((), "|O"), ((3,), "<U1"), ((3,), "<U2")}
    # Only numbers of one width and dtype stack; strings and ragged rows are predicted alone.
    assert {shape for shape, dtype in seen if dtype in ("|O", "<U1", "<U2")} == {(2,), (1, 3)}
    assert any(shape[0] > 1 for shape, dtype in seen if dtype == "<f8")  # and some did stack
