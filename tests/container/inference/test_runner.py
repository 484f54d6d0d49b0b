"""container.inference.runner: model calls on one thread, batches of queued calls, deadlines."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from container.errors import RequestTimeout
from container.inference import runner as runner_module
from container.inference.runner import ModelRunner

WAIT = 10.0  # seconds a gate may take to open; only reached when the runner is broken


async def _until(predicate: Any) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never became true")


def test_calls_run_on_one_thread_that_is_not_the_event_loop() -> None:
    async def main() -> None:
        runner = ModelRunner()
        try:
            names = await asyncio.gather(
                *(runner.call(lambda: threading.current_thread().name, timeout=WAIT) for _ in range(5))
            )
        finally:
            runner.stop()
        assert names == ["model"] * 5
        assert threading.current_thread().name != "model"

    asyncio.run(main())


def test_queued_calls_with_one_key_share_a_batch_and_each_gets_its_own_outcome() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def batch(items: Sequence[int]) -> list[tuple[bool, Any]]:
        batches.append(list(items))
        return [(True, item * 10) if item != 3 else (False, ValueError("three")) for item in items]

    async def main() -> None:
        runner = ModelRunner(max_batch_size=8)
        try:
            # Hold the model thread so the next calls queue up behind it.
            held = asyncio.ensure_future(runner.call(gate.wait, WAIT, timeout=WAIT))
            await asyncio.sleep(0.05)
            calls = [runner.call_batched(batch, n, key="a", timeout=WAIT) for n in (1, 2, 3, 4)]
            other = runner.call_batched(batch, 5, key="b", timeout=WAIT)
            waiting = asyncio.gather(*calls, other, return_exceptions=True)
            await asyncio.sleep(0.05)
            gate.set()
            results = await waiting
            await held
        finally:
            runner.stop()
        assert results[:2] == [10, 20]
        assert isinstance(results[2], ValueError)
        assert results[3:] == [40, 50]

    asyncio.run(main())
    assert batches == [[1, 2, 3, 4], [5]]  # same key together, in order; other keys apart


def test_a_batch_is_never_larger_than_the_maximum() -> None:
    batches: list[int] = []
    gate = threading.Event()

    def batch(items: Sequence[int]) -> list[tuple[bool, Any]]:
        batches.append(len(items))
        return [(True, item) for item in items]

    async def main() -> None:
        runner = ModelRunner(max_batch_size=3)
        try:
            held = asyncio.ensure_future(runner.call(gate.wait, WAIT, timeout=WAIT))
            await asyncio.sleep(0.05)
            waiting = asyncio.gather(
                *(runner.call_batched(batch, n, key="k", timeout=WAIT) for n in range(7))
            )
            await asyncio.sleep(0.05)
            gate.set()
            assert await waiting == list(range(7))
            await held
        finally:
            runner.stop()

    asyncio.run(main())
    assert batches == [3, 3, 1]


def test_a_batch_function_that_raises_fails_every_call_in_the_batch() -> None:
    def batch(items: Sequence[int]) -> list[tuple[bool, Any]]:
        raise RuntimeError("broken batch")

    async def main() -> None:
        runner = ModelRunner(max_batch_size=4)
        try:
            with pytest.raises(RuntimeError, match="broken batch"):
                await runner.call_batched(batch, 1, key="k", timeout=WAIT)
        finally:
            runner.stop()

    asyncio.run(main())


def test_system_exit_in_model_code_is_an_ordinary_error_for_the_caller() -> None:
    def leave() -> None:
        raise SystemExit(3)

    async def main() -> None:
        runner = ModelRunner()
        try:
            with pytest.raises(RuntimeError, match="SystemExit"):
                await runner.call(leave, timeout=WAIT)
            assert await runner.call(lambda: "still serving", timeout=WAIT) == "still serving"
        finally:
            runner.stop()

    asyncio.run(main())


def test_a_call_over_its_deadline_times_out_and_a_fresh_thread_takes_over() -> None:
    gate = threading.Event()

    async def main() -> None:
        runner = ModelRunner()
        try:
            with pytest.raises(RequestTimeout, match=r"within 0\.1 s"):
                await runner.call(gate.wait, WAIT, timeout=0.1)
            assert runner.stuck_threads == 1
            # The stuck call still holds the old thread; the next call runs on a new one.
            assert await runner.call(lambda: "fresh", timeout=WAIT) == "fresh"
            gate.set()
            await _until(lambda: runner.stuck_threads == 0)
        finally:
            gate.set()
            runner.stop()

    asyncio.run(main())


def test_a_call_that_timed_out_while_queued_never_runs() -> None:
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        runner = ModelRunner()
        try:
            held = asyncio.ensure_future(runner.call(gate.wait, WAIT, timeout=WAIT))
            await asyncio.sleep(0.05)
            with pytest.raises(RequestTimeout):
                await runner.call(ran.append, "queued", timeout=0.05)
            assert runner.stuck_threads == 0  # the running call was on time: nothing abandoned
            gate.set()
            await held
            assert await runner.call(ran.append, "later", timeout=WAIT) is None
        finally:
            gate.set()
            runner.stop()

    asyncio.run(main())
    assert ran == ["later"]


def test_too_many_stuck_threads_ask_for_a_restart() -> None:
    gate = threading.Event()

    async def main() -> None:
        runner = ModelRunner()
        try:
            for _ in range(4):
                with pytest.raises(RequestTimeout):
                    await runner.call(gate.wait, WAIT, timeout=0.05)
            assert runner.needs_restart
        finally:
            gate.set()
            runner.stop()

    asyncio.run(main())


def test_calls_queued_behind_a_hung_one_go_on_without_waiting_for_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Taken for hung after 0.2 s here (5 s at least in service), far before its 10 s deadline.
    monkeypatch.setattr(runner_module, "STALL_FLOOR_SECONDS", 0.2)
    gate = threading.Event()

    async def main() -> None:
        runner = ModelRunner()
        try:
            hung = asyncio.ensure_future(runner.call(lambda: gate.wait(WAIT) and "late", timeout=WAIT))
            await _until(lambda: runner._running_since is not None)
            # Answered while the hung call still holds the thread it started on.
            assert await runner.call(lambda: "next", timeout=WAIT) == "next"
            assert not gate.is_set() and runner.stuck_threads == 1
            gate.set()
            assert await hung == "late"  # the hung call still gets its answer
            await _until(lambda: runner.stuck_threads == 0)
        finally:
            gate.set()
            runner.stop()

    asyncio.run(main())


def test_a_call_without_a_deadline_is_never_taken_for_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading the model runs without a deadline, and may take minutes: what queues behind it waits.
    monkeypatch.setattr(runner_module, "STALL_FLOOR_SECONDS", 0.05)
    gate = threading.Event()
    order: list[str] = []

    async def main() -> None:
        runner = ModelRunner()
        try:
            loading = asyncio.ensure_future(
                runner.call(lambda: gate.wait(WAIT) and order.append("load"), timeout=None)
            )
            await _until(lambda: runner._running_since is not None)
            after = asyncio.ensure_future(runner.call(lambda: order.append("request"), timeout=WAIT))
            await asyncio.sleep(0.5)  # ten times the stall threshold
            assert order == [] and runner.stuck_threads == 0
            gate.set()
            await asyncio.gather(loading, after)
            assert order == ["load", "request"]
        finally:
            gate.set()
            runner.stop()

    asyncio.run(main())


def test_deadlines_hold_no_answered_calls_and_fail_those_that_overran() -> None:
    """One timer for the earliest deadline, not one per call: answered calls leave no trace behind."""

    async def main() -> None:
        runner = ModelRunner()
        release = threading.Event()
        try:
            for _ in range(3 * runner_module._Deadlines.PRUNE_AT):  # many calls answered in time
                await runner.call(lambda: None, timeout=WAIT)
            deadlines = runner._deadlines[asyncio.get_running_loop()]
            assert sum(len(line) for line in deadlines._lines.values()) <= 1
            # A call that hangs holds a line's head; the calls answered behind it are still dropped.
            hung = asyncio.ensure_future(runner.call(release.wait, WAIT, timeout=0.3))
            await asyncio.sleep(0.05)
            for _ in range(2 * runner_module._Deadlines.PRUNE_AT):
                answered = runner_module._Call(lambda: None, (), *ModelRunner._future())
                answered.future.set_result(None)  # as a call answered in time
                deadlines.add(answered, 0.3)
            assert len(deadlines._lines[0.3]) <= runner_module._Deadlines.PRUNE_AT + 1
            with pytest.raises(RequestTimeout):
                await hung  # failed at its deadline, by the one timer
        finally:
            release.set()
            runner.stop()

    asyncio.run(main())


def test_calls_answered_behind_a_hung_one_are_not_held_until_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hung call holds its line of deadlines until its own (here WAIT); the calls a fresh thread
    # answers meanwhile stay in that line, but not their requests and answers.
    monkeypatch.setattr(runner_module, "STALL_FLOOR_SECONDS", 0.2)
    gate = threading.Event()

    async def main() -> None:
        runner = ModelRunner()
        try:
            hung = asyncio.ensure_future(runner.call(gate.wait, WAIT, timeout=WAIT))
            await _until(lambda: runner._running_since is not None)
            for _ in range(8):
                assert await runner.call(len, bytearray(1024), timeout=WAIT) == 1024
            line = runner._deadlines[asyncio.get_running_loop()]._lines[WAIT]
            assert len(line) == 9  # the hung head, and the answered calls behind it
            assert [entry.call.function for entry in line if entry.call is not None] == [gate.wait]
            gate.set()
            assert await hung is True
        finally:
            gate.set()
            runner.stop()

    asyncio.run(main())
