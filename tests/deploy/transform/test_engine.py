"""The transform engine against real `serve` processes on loopback: golden outputs, order across
instances, failures, --keep-going, and MaxPayloadInMB=0.

Contracts: SageMaker API reference, CreateTransformJob / TransformInput / TransformOutput (one .out
per input file at its relative path, records in input order, a failed file gets no output and the
others go on); batch transform troubleshooting ("you can use placeholder text, such as ERROR, when
the algorithm finds a bad record"); MaxPayloadInMB=0 (chunked transfer encoding).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from server_helpers import access_lines, make_model_dir, serving

from container.serving.server_process import ServerProcess
from deploy.transform import layout
from deploy.transform.engine import Summary, run_transform
from deploy.transform.progress import Progress
from deploy.transform.settings import TransformSettings

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parent / "golden" / "e2e"
CASES = sorted(path.name for path in GOLDEN.iterdir())

# A deterministic model for the golden cases: the sum of each record's numbers; a record holding
# "bad" is refused with the runtime's BadRequest, naming its row in the request.
SUM_CODE = {
    "inference.py": """
    import json

    from container.errors import BadRequest


    def model_fn(model_dir):
        return "sum"


    def transform_fn(model, input_data, content_type, accept):
        if content_type == "application/x-recordio":
            return f"{len(input_data)}\\n", "text/plain"
        text = input_data if isinstance(input_data, str) else input_data.decode()
        answers = []
        for row, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            if "bad" in line:
                raise BadRequest(f"row {row}: not a number", code="invalid_value", row=row)
            if content_type == "application/jsonlines":
                value = json.loads(line)
                total = float(sum(value["features"] if isinstance(value, dict) else value))
                answers.append(json.dumps({"sum": total}))
            else:
                answers.append(str(float(sum(float(cell) for cell in line.split(",")))))
        if accept == "application/json":
            return "".join(f"[{answer}]" for answer in answers), accept
        return "\\n".join(answers) + "\\n", accept
    """
}


@pytest.fixture(scope="module")
def sum_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    model_dir = make_model_dir(tmp_path_factory.mktemp("sum"), None, code=SUM_CODE)
    with serving(model_dir, workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def iris_servers(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[list[ServerProcess]]:
    """Two instances of the sample model, as a transform job's containers: no payload limit."""
    model_dir = make_model_dir(tmp_path_factory.mktemp("iris"), model_file)
    env = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "SAGEMAKER_BATCH": "true"}
    with serving(model_dir, env=env, workers=2) as first, serving(model_dir, env=env, workers=2) as second:
        yield [first, second]


def transform(
    servers: list[ServerProcess], settings: TransformSettings, source: Path, output: Path, **options: Any
) -> tuple[Summary, list[str]]:
    said: list[str] = []
    files = layout.input_files(source)
    progress = Progress(sum(f.size for f in files), len(files), stream=io.StringIO())
    summary = asyncio.run(
        run_transform(
            [server.url for server in servers],
            settings,
            files,
            output,
            progress=progress,
            say=said.append,
            **options,
        )
    )
    return summary, said


def outputs(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, sum_server: ServerProcess, tmp_path: Path) -> None:
    settings = json.loads((GOLDEN / case / "settings.json").read_text())
    settings.pop("about")
    summary, _ = transform([sum_server], TransformSettings(**settings), GOLDEN / case / "input", tmp_path)
    assert summary.ok, [str(r.failure) for r in summary.failed]
    assert outputs(tmp_path) == outputs(GOLDEN / case / "expected")


def iris_rows(count: int, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    return generator.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(count, 4)).round(4)


def write_csv(path: Path, rows: np.ndarray, ids: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as file:
        for index, row in enumerate(rows):
            cells = ",".join(f"{value:.4f}" for value in row)
            file.write(f"id-{index},{cells}\n" if ids else cells + "\n")


def check_rows(answer: bytes, rows: np.ndarray, model: Any) -> None:
    table = np.loadtxt(io.BytesIO(answer), delimiter=",", ndmin=2)
    assert table.shape == (len(rows), 4)
    assert (table[:, 0].astype(int) == model.predict(rows)).all()
    np.testing.assert_allclose(table[:, 1:], model.predict_proba(rows), rtol=1e-6)


CSV_LINES = {"content_type": "text/csv", "accept": "text/csv", "split_type": "Line", "assemble_with": "Line"}


def test_100000_rows_through_two_instances_in_order(
    iris_servers: list[ServerProcess], trained_model: Any, tmp_path: Path
) -> None:
    rows = iris_rows(100_000)
    write_csv(tmp_path / "in" / "rows.csv", rows)
    before = [len(access_lines(server)) for server in iris_servers]
    # 1 MB requests: several per file, in flight at once on both instances.
    summary, said = transform(
        iris_servers, TransformSettings(**CSV_LINES, max_payload_mb=1), tmp_path / "in", tmp_path / "out"
    )
    assert summary.ok and summary.records == 100_000 and summary.requests >= 3
    check_rows((tmp_path / "out" / "rows.csv.out").read_bytes(), rows, trained_model)
    served = [len(access_lines(server)) - count for server, count in zip(iris_servers, before, strict=True)]
    assert all(count > 0 for count in served), served
    # Without --strategy and --max-concurrent, the containers' /execution-parameters decided.
    assert any("BatchStrategy=MultiRecord (/execution-parameters)" in line for line in said), said
    assert any("MaxConcurrentTransforms=2 (/execution-parameters)" in line for line in said), said


def test_a_bad_record_fails_its_file_naming_file_line_and_error(
    iris_servers: list[ServerProcess], tmp_path: Path
) -> None:
    rows = iris_rows(30_000)
    write_csv(tmp_path / "in" / "a-good.csv", rows[:100])
    write_csv(tmp_path / "in" / "b-bad.csv", rows)
    lines = (tmp_path / "in" / "b-bad.csv").read_text().splitlines(keepends=True)
    lines[20_000] = "5.1,3.5,oops,0.2\n"
    (tmp_path / "in" / "b-bad.csv").write_text("".join(lines))
    write_csv(tmp_path / "in" / "c-good.csv", rows[:100])
    summary, _ = transform(
        iris_servers, TransformSettings(**CSV_LINES, max_payload_mb=1), tmp_path / "in", tmp_path / "out"
    )
    (failed,) = summary.failed
    message = str(failed.failure)
    assert message.startswith("b-bad.csv, line 20001, in the request of lines "), message
    assert message.endswith(
        "the container answered 400: CSV: row "
        + message.split("CSV: row ")[1].split(",")[0]
        + ", column 3: 'oops' is not a number (code invalid_value)"
    )
    # As on SageMaker: no output for the failed file (not even a partial one), the others complete.
    assert sorted(outputs(tmp_path / "out")) == [
        "a-good.csv.out",
        "byoc-transform-failures.jsonl",
        "c-good.csv.out",
    ]
    (entry,) = [
        json.loads(line) for line in (tmp_path / "out" / layout.FAILURES_FILE).read_text().splitlines()
    ]
    assert entry["file"] == "b-bad.csv" and entry["status"] == 400


def test_keep_going_marks_failed_records(
    iris_servers: list[ServerProcess], trained_model: Any, tmp_path: Path
) -> None:
    rows = iris_rows(200)
    write_csv(tmp_path / "in" / "rows.csv", rows)
    lines = (tmp_path / "in" / "rows.csv").read_text().splitlines(keepends=True)
    lines[150] = "5.1,3.5,oops,0.2\n"
    (tmp_path / "in" / "rows.csv").write_text("".join(lines))
    summary, _ = transform(
        iris_servers,
        TransformSettings(**CSV_LINES, max_payload_mb=1),
        tmp_path / "in",
        tmp_path / "out",
        keep_going=True,
        placeholder="ERROR",
    )
    assert not summary.failed
    (marked,) = summary.marked
    assert marked.where == "line 151" and marked.records == (151,)
    answer = (tmp_path / "out" / "rows.csv.out").read_bytes().split(b"\n")
    assert answer[150] == b"ERROR"
    good = np.delete(np.arange(200), 150)
    check_rows(b"\n".join(answer[i] for i in good) + b"\n", rows[good], trained_model)
    (entry,) = [
        json.loads(line) for line in (tmp_path / "out" / layout.FAILURES_FILE).read_text().splitlines()
    ]
    assert entry["records"] == [151] and "'oops' is not a number" in entry["message"]


def test_keep_going_after_a_streamed_request_failed(
    iris_servers: list[ServerProcess], tmp_path: Path
) -> None:
    rows = iris_rows(300)
    write_csv(tmp_path / "in" / "rows.csv", rows)
    lines = (tmp_path / "in" / "rows.csv").read_text().splitlines(keepends=True)
    lines[7] = "oops\n"
    (tmp_path / "in" / "rows.csv").write_text("".join(lines))
    summary, _ = transform(
        iris_servers,
        TransformSettings(**CSV_LINES, max_payload_mb=0),
        tmp_path / "in",
        tmp_path / "out",
        keep_going=True,
    )
    assert not summary.failed and [failure.where for failure in summary.marked] == ["line 8"]
    answer = (tmp_path / "out" / "rows.csv.out").read_text().splitlines()
    assert len(answer) == 300 and answer[7] == "ERROR" and answer[6].count(",") == 3


def test_max_payload_zero_streams_each_file_in_one_request(
    iris_servers: list[ServerProcess], trained_model: Any, tmp_path: Path
) -> None:
    rows = iris_rows(50_000, seed=3)
    write_csv(tmp_path / "in" / "one.csv", rows)
    write_csv(tmp_path / "in" / "two.csv", rows[:10])
    summary, said = transform(
        iris_servers, TransformSettings(**CSV_LINES, max_payload_mb=0), tmp_path / "in", tmp_path / "out"
    )
    assert summary.ok and summary.requests == 2 and summary.records == 50_010
    assert any("MaxPayloadInMB=0 (request)" in line for line in said)
    check_rows((tmp_path / "out" / "one.csv.out").read_bytes(), rows, trained_model)


def test_streamed_with_dataprocessing(
    iris_servers: list[ServerProcess], trained_model: Any, tmp_path: Path
) -> None:
    rows = iris_rows(20_000, seed=4)
    write_csv(tmp_path / "in" / "scored.csv", rows, ids=True)
    settings = TransformSettings(
        **CSV_LINES, max_payload_mb=0, input_filter="$[1:]", join_source="Input", output_filter="$[0,1]"
    )
    summary, _ = transform(iris_servers, settings, tmp_path / "in", tmp_path / "out")
    assert summary.ok and summary.requests == 1
    lines = (tmp_path / "out" / "scored.csv.out").read_text().splitlines()
    expected = trained_model.predict(rows)
    assert lines[:2] == [f"id-0,{rows[0][0]:.4f}", f"id-1,{rows[1][0]:.4f}"]
    assert len(lines) == 20_000 and len(expected) == 20_000
