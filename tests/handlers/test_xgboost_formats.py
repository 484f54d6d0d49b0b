"""The XGBoost handler's request and response formats, as pure functions, against AWS's contract.

Sources cited per test: aws/sagemaker-xgboost-container at branch 1.7-1 (the serving code of images
1.5-1 and 1.7-1 is the same in what is tested here), sagemaker-containers 2.8.6.post2 (its CSV encoder),
the SageMaker Python SDK v2 (record.proto and the RecordIO writers), and the developer guide
(https://docs.aws.amazon.com/sagemaker/latest/dg/xgboost.html and .../cdf-inference.html).
"""

from __future__ import annotations

import csv
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from container.config import ConfigError
from container.errors import BadRequest, InferenceError, NotAcceptable, UnsupportedMediaType
from handlers.xgboost import output, payloads, recordio, settings

RECORDIO_FIXTURES = Path(__file__).parent / "fixtures" / "recordio"


# --- content types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("text/csv", payloads.CSV),
        ("text/csv; charset=utf-8", payloads.CSV),
        ("text/csv; label_size=1", payloads.CSV),
        ("CSV", payloads.CSV),
        ("text/libsvm", payloads.LIBSVM),
        ("text/x-libsvm", payloads.LIBSVM),
        ("libsvm", payloads.LIBSVM),
        ("application/x-recordio-protobuf", payloads.RECORDIO),
        ("recordio-protobuf", payloads.RECORDIO),
        (None, payloads.LIBSVM),
        ("application/json", payloads.JSON),
        ("application/jsonlines", payloads.JSONLINES),
        ("application/x-ndjson", payloads.JSONLINES),
    ],
)
def test_content_types_as_aws_spells_them(header: str | None, canonical: str) -> None:
    """data_utils.py get_content_type: the bare names too, and no Content-Type at all reads as libsvm.
    JSON and JSON Lines are the handler's extension (AWS: 415)."""
    assert payloads.content_type_of(header)[0] == canonical


@pytest.mark.parametrize("header", ["application/x-parquet", "application/x-npy", "text/plain"])
def test_other_content_types_are_415_listing_the_supported(header: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        payloads.content_type_of(header)
    assert "text/csv" in raised.value.details["supported"]


def test_csv_label_size_other_than_1_is_refused() -> None:
    """data_utils.py get_content_type: `label_size` must be 1 (a UserError, 415 at inference)."""
    with pytest.raises(UnsupportedMediaType, match="label_size"):
        payloads.content_type_of("text/csv; label_size=2")


# --- CSV -------------------------------------------------------------------------------------------


def aws_delimiter(first_line: str) -> str:
    """encoder.py csv_to_dmatrix: csv.Sniffer on the first line's first 512 characters; a letter or
    digit becomes a comma."""
    found = csv.Sniffer().sniff(first_line[:512]).delimiter
    return "," if found.isalnum() else found


numbers = st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda x: repr(float(x)))
fields = st.one_of(numbers, st.integers(-1000, 1000).map(str), st.just(""))


@given(st.lists(fields, min_size=1, max_size=8), st.sampled_from([",", "\t", ";", " ", "|", ":"]))
def test_the_delimiter_is_the_one_aws_sniffs(values: list[str], delimiter: str) -> None:
    line = delimiter.join(values)
    try:
        expected = aws_delimiter(line)
    except csv.Error:
        with pytest.raises(UnsupportedMediaType):
            payloads.sniff_delimiter(line[:512])
        return
    assert payloads.sniff_delimiter(line[:512]) == expected


def aws_csv_rows(text: str) -> np.ndarray:
    """encoder.py csv_to_dmatrix's reading, for a comma-delimited body: strip, split, "" is NaN."""
    lines = text.strip().split("\n")
    return np.array([["nan" if f == "" else f for f in line.split(",")] for line in lines]).astype(float)


spellings = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda x: f"{x:.6f}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:g}"),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: f"{x:.17e}"),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", "+1", ".5", "5.", "-0", "1E5", " 2.5", "3\r", "007"]),
)


@given(st.lists(st.lists(spellings, min_size=3, max_size=3), min_size=1, max_size=5))
def test_csv_numbers_read_exactly_as_aws_reads_them(rows: list[list[str]]) -> None:
    """Plain comma-separated numbers take a faster path (orjson): it must read every number to the same
    float64 as AWS's float conversion, and leave every other spelling to the general path."""
    text = "\n".join(",".join(row) for row in rows)
    if not text.strip():
        return
    np.testing.assert_array_equal(payloads.parse_csv(text), aws_csv_rows(text))


def test_csv_rows_as_aws_reads_them() -> None:
    """Stripped, lines split on LF, empty fields missing (NaN), no header; a trailing CR is tolerated."""
    rows = payloads.parse_csv("\n 1.5,,3\r\n-2,0.25,1e-3\n\n")
    np.testing.assert_array_equal(rows, [[1.5, np.nan, 3.0], [-2.0, 0.25, 0.001]])
    np.testing.assert_array_equal(payloads.parse_csv("1;2;3"), [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(payloads.parse_csv("0.5"), [[0.5]])  # Sniffer says '5': a comma


def test_a_csv_header_is_415_naming_the_cell() -> None:
    """AWS: the float conversion fails, serve.py answers 415 with the exception text."""
    with pytest.raises(UnsupportedMediaType) as raised:
        payloads.parse_csv("age,income\n1,2")
    assert raised.value.details == {"row": 1, "column": 1}
    assert "'age' is not a number" in raised.value.message


def test_ragged_csv_is_415_naming_the_line() -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        payloads.parse_csv("1,2,3\n4,5")
    assert raised.value.details == {"line": 2, "expected": 3, "found": 2}


def test_an_empty_body_is_zero_rows() -> None:
    """AWS answers an empty body 204 with no body (serve.py, invocations); the handler reads zero rows
    and answers with no body (see test_zero_rows_are_an_empty_body)."""
    assert payloads.parse(b"", payloads.CSV).shape[0] == 0
    assert payloads.parse(b"  \n", payloads.LIBSVM).shape[0] == 0


# --- libsvm ----------------------------------------------------------------------------------------


def test_libsvm_is_zero_based_with_optional_ignored_labels() -> None:
    """serve_utils.py _get_sparse_matrix_from_libsvm: index k is column k, tokens without ':' (the
    label) are skipped, absent entries are missing values (a CSR matrix, not zeros)."""
    rows = payloads.parse(b"1 0:0.5 3:2.0\n2:1.5\n", payloads.LIBSVM)
    assert scipy.sparse.issparse(rows)
    assert rows.shape == (2, 4)
    assert rows.nnz == 3
    np.testing.assert_array_equal(rows.toarray(), [[0.5, 0.0, 0.0, 2.0], [0.0, 0.0, 1.5, 0.0]])


def test_libsvm_differences_from_aws_tokenizer() -> None:
    """scikit-learn's parser (chosen over hand-rolling) differs from AWS's split-on-spaces in edge cases,
    each pinned here: unsorted or repeated indices are refused (AWS sorts them and sums repeats), blank
    lines are skipped (AWS: a blank line inside the body is a row of missing values), and qid is dropped
    (AWS: 415)."""
    with pytest.raises(UnsupportedMediaType, match=r"line 2: .*sorted and unique") as raised:
        payloads.parse(b"0:1 1:2\n3:1 1:2\n", payloads.LIBSVM)
    assert raised.value.details == {"line": 2}
    assert payloads.parse(b"0:1\n\n1:2\n", payloads.LIBSVM).shape[0] == 2
    assert payloads.parse(b"1 qid:3 0:0.5\n", payloads.LIBSVM).shape == (1, 1)


def test_libsvm_garbage_is_415() -> None:
    with pytest.raises(UnsupportedMediaType, match="libsvm"):
        payloads.parse(b"1 a:0.5", payloads.LIBSVM)


# --- RecordIO-protobuf -----------------------------------------------------------------------------


def sdk_rows(name: str) -> np.ndarray:
    described = json.loads((RECORDIO_FIXTURES / "rows.json").read_text())
    body = described["bodies"][name]
    if body["rows"] == "dense_rows":
        return np.array(described["dense_rows"], dtype=body["dtype"]).astype(np.float64)
    dense = np.zeros((len(described["sparse_rows"]), body["width"]))
    for row, pairs in enumerate(described["sparse_rows"]):
        for col, value in pairs:
            if col < body["width"]:
                dense[row, col] = np.asarray(value, dtype=body["dtype"])
    return dense


@pytest.mark.parametrize("name", ["dense-float32.rec", "dense-float64.rec"])
def test_dense_records_written_by_the_sdk(name: str) -> None:
    """Bodies written by the SageMaker SDK's write_numpy_to_dense_tensor (fixtures/recordio), labels
    included, which AWS's container ignores (encoder.py recordio_protobuf_to_dmatrix)."""
    rows = payloads.parse((RECORDIO_FIXTURES / name).read_bytes(), payloads.RECORDIO)
    assert isinstance(rows, np.ndarray)
    np.testing.assert_array_equal(rows, sdk_rows(name))


@pytest.mark.parametrize("name", ["sparse-float32.rec", "sparse-width-4.rec"])
def test_sparse_records_written_by_the_sdk(name: str) -> None:
    """write_spmatrix_to_sparse_tensor: keys are the columns, shape the width; absent is missing."""
    rows = payloads.parse((RECORDIO_FIXTURES / name).read_bytes(), payloads.RECORDIO)
    assert scipy.sparse.issparse(rows)
    np.testing.assert_array_equal(rows.toarray(), sdk_rows(name))


def test_recordio_framing_on_the_wire() -> None:
    """dmlc-core include/dmlc/recordio.h: magic 0xCED7230A little-endian (0A 23 D7 CE), the length,
    the payload, zero padding to 4 bytes."""
    framed = recordio.frame([b"abcde", b"xyzw"])
    assert framed[:4] == bytes.fromhex("0a23d7ce")
    assert struct.unpack("<I", framed[4:8]) == (5,)
    assert framed[8:16] == b"abcde\x00\x00\x00"
    assert list(recordio.split_records(framed)) == [b"abcde", b"xyzw"]


def test_split_records_are_joined_with_the_magic_as_dmlc_reads_them() -> None:
    """recordio.h: a writer that finds the magic inside a record splits it there (flags 1, 2, 3); the
    reader puts the magic back between the parts."""
    parts = [(1, b"ab"), (2, b"cd"), (3, b"e")]
    body = b"".join(
        struct.pack("<II", recordio.MAGIC, (flag << 29) | len(part)) + part + b"\x00" * (-len(part) % 4)
        for flag, part in parts
    )
    assert list(recordio.split_records(body)) == [
        b"ab" + recordio.MAGIC_BYTES + b"cd" + recordio.MAGIC_BYTES + b"e"
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00" * 12, "no record magic"),
        (struct.pack("<II", recordio.MAGIC, 100) + b"short", "declares 100 bytes"),
        (recordio.frame([b"\xff\xff\xff"]), "not a Record message"),
        (recordio.frame([recordio.Record(uid="x").SerializeToString()]), "no features\\['values'\\]"),
        (recordio.frame([recordio.sparse_record([5], [1.0], 3)]), "key 5 is past its width 3"),
        (recordio.frame([recordio.sparse_record([2**64 - 1], [1.0], 2**64 - 1)]), "columns wide"),
    ],
)
def test_bad_recordio_is_415_saying_why(body: bytes, message: str) -> None:
    """encoder.py: any failure to read is a 415 at inference (serve.py, invocations)."""
    with pytest.raises(UnsupportedMediaType, match=message):
        payloads.parse(body, payloads.RECORDIO)


# --- JSON (the extension) --------------------------------------------------------------------------


def test_json_rows_and_instances() -> None:
    rows = payloads.parse(b'{"instances": [[1, 2], [3, null]]}', payloads.JSON)
    np.testing.assert_array_equal(rows, [[1.0, 2.0], [3.0, np.nan]])
    assert payloads.parse(b'[1, 2]\n{"features": [3, 4]}\n', payloads.JSONLINES).shape == (2, 2)
    with pytest.raises(BadRequest, match=r"row 1, column 2: 'x' is not a number"):
        payloads.parse(b'[[1, "x"]]', payloads.JSON)


# --- responses: AWS's default output --------------------------------------------------------------

BINARY = np.array([0.06876404583454132, 0.5], dtype=np.float32)
SOFTPROB = np.array([[0.5490798354148865, 0.37784168124198914, 0.07307849824428558]], dtype=np.float32)


def spec(objective: str = "binary:logistic", **kwargs) -> output.OutputSpec:
    return output.OutputSpec(objective=objective, **kwargs)


def test_default_csv_one_value_or_row_per_line() -> None:
    """serve.py invocations -> sagemaker-containers _encoders.array_to_csv: csv.writer, LF after every
    row; numbers as Python writes the float64 of each float32 (preds.tolist())."""
    assert output.encode(BINARY, spec(), output.CSV) == b"0.06876404583454132\n0.5\n"
    assert (
        output.encode(SOFTPROB, spec("multi:softprob", num_class=3), output.CSV)
        == b"0.5490798354148865,0.37784168124198914,0.07307849824428558\n"
    )


def test_default_json_predictions_with_score() -> None:
    """serve_utils.py encode_predictions_as_json and the documented shape
    (https://docs.aws.amazon.com/sagemaker/latest/dg/cdf-inference.html): {"predictions": [{"score": s}]},
    json.dumps' default separators, no trailing newline."""
    assert (
        output.encode(BINARY, spec(), output.JSON)
        == b'{"predictions": [{"score": 0.06876404583454132}, {"score": 0.5}]}'
    )
    softmax = np.array([2.0, 0.0], dtype=np.float32)
    assert output.encode(softmax, spec("multi:softmax"), output.JSON) == (
        b'{"predictions": [{"score": 2.0}, {"score": 0.0}]}'
    )
    assert json.loads(output.encode(SOFTPROB, spec("multi:softprob"), output.JSON)) == {
        "predictions": [{"score": SOFTPROB[0].tolist()}]
    }


def test_batch_output_is_plain_lines_for_every_accept() -> None:
    """serve.py invocations: with SAGEMAKER_BATCH set, "\\n".join(map(str, preds)) + "\\n" whatever the
    Accept; a softprob row prints as a Python list."""
    batch = spec("multi:softprob", batch=True)
    for accept in (output.CSV, output.JSON):
        assert output.encode(SOFTPROB, batch, accept) == (
            b"[0.5490798354148865, 0.37784168124198914, 0.07307849824428558]\n"
        )
    assert output.encode(BINARY, spec(batch=True), output.JSON) == b"0.06876404583454132\n0.5\n"


def test_jsonlines_and_recordio_without_selected_keys_are_answered() -> None:
    """Deliberate difference: AWS's container fails with a 500 for these two Accepts unless
    SAGEMAKER_INFERENCE_OUTPUT is set (sagemaker-containers' encoders know neither). The handler answers
    with the JSON response's per-row objects, and with the score under label["score"]."""
    assert output.encode(BINARY, spec(), output.JSONLINES) == (
        b'{"score": 0.06876404583454132}\n{"score": 0.5}\n'
    )
    body = output.encode(BINARY, spec(), output.RECORDIO)
    records = [recordio.parse_record(p, i) for i, p in enumerate(recordio.split_records(body))]
    assert [list(r.label["score"].float32_tensor.values) for r in records] == [[BINARY[0]], [0.5]]


def test_zero_rows_are_an_empty_body() -> None:
    """Deliberate difference: AWS answers an empty request 204; the handler 200 with the same empty body."""
    for accept in output.ACCEPTS:
        assert output.encode(np.empty((0,), dtype=np.float32), spec(), accept) == b""


def test_unknown_accept_is_406_listing_the_supported() -> None:
    with pytest.raises(NotAcceptable) as raised:
        output.encode(BINARY, spec(), "application/x-npy")
    assert raised.value.details["supported"] == output.ACCEPTS


# --- responses: selectable output (SAGEMAKER_INFERENCE_OUTPUT) --------------------------------------

ALL_CLASSIFIER_KEYS = ("predicted_label", "labels", "probability", "probabilities", "raw_score", "raw_scores")


def test_selected_keys_for_binary_logistic() -> None:
    """serve_utils.py get_selected_predictions and its _get_* helpers, for binary:logistic."""
    row = output.row_values(0.75, spec(keys=ALL_CLASSIFIER_KEYS))
    assert row == {
        "predicted_label": 1,
        "labels": [0, 1],
        "probability": 0.75,
        "probabilities": [0.25, 0.75],
        "raw_score": 0.75,
        "raw_scores": [0.25, 0.75],
    }


def test_selected_keys_for_multi_softprob() -> None:
    probabilities = [0.2, 0.5, 0.3]
    row = output.row_values(probabilities, spec("multi:softprob", num_class=3, keys=ALL_CLASSIFIER_KEYS))
    assert row == {
        "predicted_label": 1,
        "labels": [0, 1, 2],
        "probability": 0.5,
        "probabilities": probabilities,
        "raw_score": 0.5,
        "raw_scores": probabilities,
    }


def test_selected_keys_for_multi_softmax_and_regression() -> None:
    """softmax: the label is the prediction; its raw_scores are [1 - r, r] as AWS computes them for every
    non-softprob classifier. Regression fills predicted_score only."""
    softmax = output.row_values(
        2.0, spec("multi:softmax", num_class=3, keys=("predicted_label", "raw_scores"))
    )
    assert softmax == {"predicted_label": 2.0, "raw_scores": [-1.0, 2.0]}
    assert output.row_values(1.5, spec("reg:squarederror", keys=("predicted_score",))) == {
        "predicted_score": 1.5
    }


def test_inapplicable_keys_are_nan_after_the_others() -> None:
    """get_selected_predictions: keys the objective cannot fill are kept, with NaN, after the valid ones
    (a warning is logged at load); valid keys come in AWS's fixed order, not the variable's."""
    row = output.row_values(1.5, spec("reg:squarederror", keys=("probability", "predicted_score")))
    assert list(row) == ["predicted_score", "probability"]
    assert math.isnan(row["probability"])


def test_selected_json_and_jsonlines_bytes() -> None:
    """encode_selected_predictions: json.dumps({"predictions": rows}); JSON Lines one json.dumps per row
    each followed by LF (encoder.py json_to_jsonlines); NaN written bare, as json.dumps does."""
    selected = spec(keys=("probability", "predicted_label"))
    assert output.encode(BINARY, selected, output.JSON) == (
        b'{"predictions": [{"predicted_label": 0, "probability": 0.06876404583454132}, '
        b'{"predicted_label": 0, "probability": 0.5}]}'
    )
    assert output.encode(BINARY[:1], selected, output.JSONLINES) == (
        b'{"predicted_label": 0, "probability": 0.06876404583454132}\n'
    )
    regression = spec("reg:squarederror", keys=("predicted_score", "labels"))
    assert output.encode(np.array([1.5], dtype=np.float32), regression, output.JSON) == (
        b'{"predictions": [{"predicted_score": 1.5, "labels": NaN}]}'
    )


def test_selected_csv_follows_the_variables_order_with_quoted_lists() -> None:
    """_encode_selected_predictions_csv: the keys in the variable's order (repeats repeated), a list as
    its Python repr in double quotes, rows joined by LF with no final LF; SAGEMAKER_BATCH adds one."""
    keys = ("probabilities", "predicted_label", "predicted_label")
    assert output.encode(BINARY, spec(keys=keys), output.CSV) == (
        b'"[0.9312359541654587, 0.06876404583454132]",0,0\n"[0.5, 0.5]",0,0'
    )
    assert output.encode(BINARY[:1], spec(keys=("predicted_label",), batch=True), output.CSV) == b"0\n"


def test_selected_recordio_one_record_per_row_under_label() -> None:
    """_encode_selected_predictions_recordio_protobuf: one Record per row, each key's values as a
    float32 tensor under `label` (scalars as one value). AWS's writer also repeats the earlier records'
    bytes inside each record; they decode to these same values, which is what a reader sees."""
    body = output.encode(
        SOFTPROB,
        spec("multi:softprob", num_class=3, keys=("predicted_label", "probabilities")),
        output.RECORDIO,
    )
    (record,) = [recordio.parse_record(p, i) for i, p in enumerate(recordio.split_records(body))]
    assert list(record.label["predicted_label"].float32_tensor.values) == [0.0]
    assert list(record.label["probabilities"].float32_tensor.values) == SOFTPROB[0].tolist()


def test_selectable_output_for_an_unsupported_objective_fails_at_load() -> None:
    """Deliberate difference: AWS answers every request 500 ("Objective ... unsupported for selectable
    inference predictions"); a setting that can never work fails the load here, which /ping reports."""
    with pytest.raises(InferenceError, match="count:poisson"):
        spec("count:poisson", keys=("predicted_score",)).check()
    assert spec("reg:squarederror", keys=("probability",)).check() == ["probability"]


# --- settings --------------------------------------------------------------------------------------


def test_settings_as_aws_reads_them() -> None:
    """serve_utils.py get_selected_output_keys: spaces removed, lower-cased, split on commas."""
    parsed = settings.load({"SAGEMAKER_INFERENCE_OUTPUT": "Predicted_Label, probability,predicted_label"})
    assert parsed.inference_output == ("predicted_label", "probability", "predicted_label")
    assert settings.load({}) == settings.XGBoostSettings(inference_output=None, batch=False, ensemble=True)
    assert settings.load({"SAGEMAKER_BATCH": "true", "SAGEMAKER_INFERENCE_ENSEMBLE": "false"}) == (
        settings.XGBoostSettings(batch=True, ensemble=False)
    )


def test_settings_refuse_unknown_keys_and_non_booleans() -> None:
    """Deliberate differences: AWS answers an unknown key with NaN values, and takes SAGEMAKER_BATCH=false
    as true (any non-empty value); both are start-up errors naming the variable here."""
    with pytest.raises(ConfigError, match=r"SAGEMAKER_INFERENCE_OUTPUT.*'probabilty'"):
        settings.load({"SAGEMAKER_INFERENCE_OUTPUT": "probabilty"})
    with pytest.raises(ConfigError, match="SAGEMAKER_BATCH"):
        settings.load({"SAGEMAKER_BATCH": "sometimes"})
    assert settings.load({"SAGEMAKER_BATCH": "false"}).batch is False
