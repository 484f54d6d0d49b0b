"""What a failed request says, the progress line, and which files are read and written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.transform import failures, layout, records
from deploy.transform.batches import pack
from deploy.transform.progress import Snapshot, duration, render


def batch_of(data: bytes, strategy: str = "MultiRecord"):
    return next(pack(records.split([data], "Line"), strategy, 6))


def test_a_runtime_error_is_located_in_the_input_file() -> None:
    # A request of lines 3-5 (lines 1-2 blank): the runtime says row 2 of the request, which is line 4.
    batch = batch_of(b"\n\n1,2\n1,x\n3,4\n")
    body = json.dumps(
        {
            "code": "invalid_value",
            "message": "CSV: row 2, column 2: 'x' is not a number",
            "row": 2,
            "column": 2,
        }
    ).encode()
    failure = failures.container_error("data/part-1.csv", batch, 400, body)
    assert str(failure) == (
        "data/part-1.csv, line 4, in the request of lines 3-5 (3 records): the container answered 400: "
        "CSV: row 2, column 2: 'x' is not a number (code invalid_value)"
    )
    assert failure.records == (1, 2, 3) and failure.status == 400


def test_other_containers_errors_are_quoted() -> None:
    batch = batch_of(b"1,2\n", "SingleRecord")
    failure = failures.container_error("in.csv", batch, 500, b"Traceback ... ValueError: boom" + b"!" * 2000)
    assert str(failure).startswith(
        "in.csv, line 1: the container answered 500: Traceback ... ValueError: boom!"
    )
    assert len(failure.message) < 1100
    assert "an empty body" in str(failures.container_error("in.csv", batch, 500, b""))


@pytest.mark.parametrize(("status", "advice"), [(413, "lower --max-payload"), (504, "--invocation-timeout")])
def test_advice_for_size_and_time(status: int, advice: str) -> None:
    failure = failures.container_error("in.csv", batch_of(b"1\n"), status, b'{"message": "m"}')
    assert advice in failure.message


def test_render() -> None:
    snapshot = Snapshot(
        records=50_000,
        done_bytes=250,
        total_bytes=1000,
        elapsed=10.0,
        files_done=1,
        files_total=4,
        failed=1,
        marked=2,
    )
    assert snapshot.rate == 5000 and snapshot.eta == 30
    assert render(snapshot, width=8) == (
        "[##......]  25.0%  50,000 records  5,000 records/s  ETA 0:30  files 1/4  1 failed  2 marked"
    )
    assert duration(3725) == "1:02:05"


def test_input_files_recursively_and_outputs_beside_their_relative_paths(tmp_path: Path) -> None:
    source = tmp_path / "in"
    (source / "b" / "c").mkdir(parents=True)
    (source / "a.csv").write_text("1\n")
    (source / "b" / "c" / "d.csv").write_text("2\n")
    (source / "b" / "e.jsonl").write_text("3\n")
    found = layout.input_files(source)
    assert [f.name for f in found] == ["a.csv", "b/e.jsonl", "b/c/d.csv"]
    assert found[2].output_path(tmp_path / "out") == tmp_path / "out" / "b" / "c" / "d.csv.out"
    (single,) = layout.input_files(source / "a.csv")
    assert single.name == "a.csv" and single.size == 2


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(layout.LayoutError, match="no such file or directory"):
        layout.input_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(layout.LayoutError, match="holds no files"):
        layout.input_files(tmp_path / "empty")
    with pytest.raises(layout.LayoutError, match="inside --input"):
        layout.check_output(tmp_path, tmp_path / "out")
    layout.check_output(tmp_path / "empty", tmp_path / "out")
