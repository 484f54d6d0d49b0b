"""DataProcessing (InputFilter, JoinSource, OutputFilter) against AWS's documented examples.

The cases are in golden/dataprocessing.json, each citing its source in
https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html (or the API
reference of DataProcessing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.transform import assembly
from deploy.transform.dataprocessing import DataProcessing, DataProcessingError

GOLDEN = json.loads((Path(__file__).parent / "golden" / "dataprocessing.json").read_text())["cases"]


@pytest.mark.parametrize("case", GOLDEN, ids=[case["name"] for case in GOLDEN])
def test_golden(case: dict) -> None:
    processing = DataProcessing.create(
        case["input_filter"], case["join_source"], case["output_filter"], case["content_type"], case["accept"]
    )
    record = case["record"].encode()
    assert processing.model_input(record).decode() == case["model_input"]
    answer = case["answer"].encode()
    if processing.processes_output:
        (output,) = processing.split_answer(answer, 1)
        written = assembly.piece(processing.output_record(record, output), "Line")
    else:
        written = assembly.piece(answer, "Line")
    assert written.decode() == case["written"]


def csv_processing(**settings: str) -> DataProcessing:
    return DataProcessing.create(content_type="text/csv", accept="text/csv", **settings)


def test_inactive_by_default_and_records_pass_through_untouched() -> None:
    processing = DataProcessing.create(content_type="image/png", accept="application/x-anything")
    assert not processing.active
    assert processing.model_input(b"\x89PNG\r\n") == b"\x89PNG\r\n"


def test_a_multirecord_answer_is_cut_by_line() -> None:
    processing = csv_processing(join_source="Input")
    assert processing.split_answer(b"0\n1\n2\n", 3) == [b"0", b"1", b"2"]
    with pytest.raises(
        DataProcessingError, match=r"answered 2 line.* for a request of 3 records.*SingleRecord"
    ):
        processing.split_answer(b"0\n1\n", 3)


def test_a_json_document_answer_is_cut_by_array_element() -> None:
    processing = DataProcessing.create(
        join_source="Input", content_type="application/jsonlines", accept="application/json"
    )
    assert processing.split_answer(b'[{"a": 1}, [2, 3], 4]', 3) == [b'{"a":1}', b"[2,3]", b"4"]
    # Not an array of that length: one JSON document per line instead.
    assert processing.split_answer(b'{"a":1}\n{"a":2}\n', 2) == [b'{"a":1}', b'{"a":2}']
    # The runtime's table shape ({"predictions": [...]}) cannot be matched to records.
    with pytest.raises(DataProcessingError, match="cannot be matched"):
        processing.split_answer(b'{"predictions": [0, 1]}', 2)


def test_one_record_answer_is_whole_even_over_several_lines() -> None:
    processing = DataProcessing.create(
        join_source="Input", content_type="application/json", accept="application/json"
    )
    (output,) = processing.split_answer(b'{\n  "label": 1\n}\n', 1)
    assert processing.output_record(b'{"key": 1}', output) == b'{"key":1,"SageMakerOutput":{"label":1}}'


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"join_source": "Both"}, "JoinSource 'Both': expected None or Input"),
        ({"input_filter": "$..x"}, "recursive descent"),
        ({"join_source": "Input", "content_type": "image/png"}, "ContentType .* text/csv, application/json"),
        ({"output_filter": "$[0]", "accept": "application/x-npy"}, "Accept .* 'application/x-npy'"),
        (
            {"join_source": "Input", "accept": "application/json"},
            "joins records of one format: the input is text/csv and the output application/json",
        ),
    ],
)
def test_settings_refused_with_reasons(settings: dict, message: str) -> None:
    arguments = {"content_type": "text/csv", "accept": "text/csv", **settings}
    with pytest.raises(DataProcessingError, match=message):
        DataProcessing.create(**arguments)


@pytest.mark.parametrize(
    ("settings", "record", "answer", "message"),
    [
        (
            {"input_filter": "$[9]"},
            b"1,2,3\n",
            None,
            r"InputFilter \$\[9\]: index 9 is outside \$, which has 3",
        ),
        (
            {"output_filter": "$[5]", "join_source": "Input"},
            b"1,2\n",
            b"0\n",
            r"OutputFilter \$\[5\]: index 5",
        ),
        ({"join_source": "Input"}, b"1,2\n", b"0\n1\n", "more than one CSV line"),
        ({"join_source": "Input"}, b'"unterminated,2\n', b"0\n", "not a CSV row"),
        ({"join_source": "Input"}, b"\xff,1\n", b"0\n", "not UTF-8 text"),
    ],
)
def test_record_errors_name_the_filter(
    settings: dict, record: bytes, answer: bytes | None, message: str
) -> None:
    processing = csv_processing(**settings)
    with pytest.raises(DataProcessingError, match=message):
        if answer is None:
            processing.model_input(record)
        else:
            processing.output_record(record, answer)


def test_json_record_that_is_not_json() -> None:
    processing = DataProcessing.create(
        input_filter="$.x", content_type="application/jsonlines", accept="application/jsonlines"
    )
    with pytest.raises(DataProcessingError, match="the input record is not JSON"):
        processing.model_input(b"{nope}\n")
