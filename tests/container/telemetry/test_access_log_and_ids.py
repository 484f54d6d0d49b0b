"""container.telemetry: access_log (lines collected per event-loop turn) and request_ids."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import re
from collections.abc import Iterator

import pytest

from container.telemetry import access_log
from container.telemetry.request_ids import new_request_id


@pytest.fixture
def access_enabled() -> Iterator[None]:
    previous = access_log.logger.level
    access_log.logger.setLevel(logging.INFO)
    yield
    access_log.logger.setLevel(previous)
    access_log.flush()


def _record(request_id: str, status: int = 200) -> None:
    access_log.record(
        request_id=request_id,
        method="POST",
        path="/invocations",
        status=status,
        bytes_in=10,
        bytes_out=20,
        model_seconds=0.001,
        total_seconds=0.0015,
    )


def test_a_line_outside_an_event_loop_is_written_at_once(
    access_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _record("abc", 400)
    line = json.loads(capsys.readouterr().out)
    assert line == {
        "request_id": "abc",
        "method": "POST",
        "path": "/invocations",
        "status": 400,
        "bytes_in": 10,
        "bytes_out": 20,
        "model_ms": 1.0,
        "overhead_ms": 0.5,
        "total_ms": 1.5,
    }


def test_a_failed_requests_line_carries_its_error_code_and_message(
    access_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # A client's mistake has no log line of its own (that would make a bad request cost more than
    # a good one): its access line says what was wrong.
    access_log.record(
        request_id="bad",
        method="POST",
        path="/invocations",
        status=400,
        bytes_in=3,
        bytes_out=80,
        model_seconds=0.0,
        total_seconds=0.001,
        code="missing_value",
        message="row 1, column 2 is missing",
    )
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == 400
    assert (line["code"], line["message"]) == ("missing_value", "row 1, column 2 is missing")


def test_lines_inside_an_event_loop_are_written_together_on_the_next_turn(
    access_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> tuple[str, str]:
        for n in range(3):
            _record(f"r{n}")
        before = capsys.readouterr().out
        await asyncio.sleep(0)  # one turn of the loop
        return before, capsys.readouterr().out

    before, after = asyncio.run(main())
    assert before == ""
    assert [json.loads(line)["request_id"] for line in after.splitlines()] == ["r0", "r1", "r2"]


def test_no_lines_when_the_level_is_above_info(capsys: pytest.CaptureFixture[str]) -> None:
    previous = access_log.logger.level
    access_log.logger.setLevel(logging.WARNING)
    try:
        _record("quiet")
    finally:
        access_log.logger.setLevel(previous)
    assert capsys.readouterr().out == ""


def test_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


def _child_id(queue: multiprocessing.Queue) -> None:
    queue.put(new_request_id())


def test_forked_workers_draw_different_ids() -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_child_id, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    ids = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=30)
    ids.append(new_request_id())
    # Same counter position in each process; the per-process prefixes tell them apart.
    assert len({request_id[:16] for request_id in ids}) == 3
