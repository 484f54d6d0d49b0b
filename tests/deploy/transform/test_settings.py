"""A transform job's settings: checked as CreateTransformJob checks them, resolved with
/execution-parameters, and the container's environment.

Contracts: SageMaker API reference, CreateTransformJob (MaxPayloadInMB 0-100 and
MaxConcurrentTransforms * MaxPayloadInMB <= 100; InstanceCount); "Use Your Own Inference Code with
Batch Transform" (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html:
the order request > /execution-parameters > defaults, the example answer with "MULTI_RECORD", and
the SAGEMAKER_* variables passed only when the request set them); "Associate Prediction Results with
Input Records" (text/csv needs SplitType and AssembleWith Line).
"""

from __future__ import annotations

import pytest

from deploy.transform.settings import SettingsError, TransformSettings, parse_execution_parameters

CSV = {"content_type": "text/csv", "accept": "text/csv"}


def test_defaults_check_clean() -> None:
    processing = TransformSettings(**CSV).check()
    assert not processing.active


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"split_type": "Lines"}, "SplitType 'Lines'"),
        (
            {"batch_strategy": "MULTI_RECORD"},
            "BatchStrategy 'MULTI_RECORD': expected MultiRecord or SingleRecord",
        ),
        ({"assemble_with": "Newline"}, "AssembleWith 'Newline'"),
        ({"max_payload_mb": 101}, "MaxPayloadInMB 101: expected 0 (stream, no limit) to 100"),
        ({"max_payload_mb": -1}, "MaxPayloadInMB -1"),
        ({"max_concurrent": 0}, "MaxConcurrentTransforms 0: expected at least 1"),
        ({"max_concurrent": 21, "max_payload_mb": 5}, "MaxConcurrentTransforms * MaxPayloadInMB is 105 MB"),
        ({"instance_count": 0}, "InstanceCount 0"),
        ({"content_type": "x/" + "y" * 300}, "ContentType is 302 characters"),
        ({"join_source": "Input"}, "DataProcessing with ContentType text/csv needs SplitType=Line"),
        ({"join_source": "Input", "split_type": "Line"}, "text/csv in and out needs AssembleWith=Line"),
        ({"input_filter": "$[1:", "split_type": "Line"}, "InputFilter: JSONPath"),
    ],
)
def test_refused(settings: dict, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        TransformSettings(**{**CSV, **settings}).check()
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_every_problem_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        TransformSettings(split_type="x", assemble_with="y", max_payload_mb=500).check()
    assert len(caught.value.problems) == 3


def test_streaming_with_any_concurrency_is_allowed() -> None:
    # 0 * anything is 0: the product rule never refuses streaming.
    TransformSettings(**CSV, max_payload_mb=0, max_concurrent=64).check()


def test_jsonlines_dataprocessing_needs_line_split() -> None:
    jsonlines = {"content_type": "application/jsonlines", "accept": "application/jsonlines"}
    with pytest.raises(SettingsError, match="needs SplitType=Line"):
        TransformSettings(**jsonlines, join_source="Input").check()
    assert TransformSettings(**jsonlines, join_source="Input", split_type="Line").check().active
    # application/json: the whole file may be the one record.
    json_document = {"content_type": "application/json", "accept": "application/json"}
    assert TransformSettings(**json_document, join_source="Input").check().active


@pytest.mark.parametrize("spelling", ["MULTI_RECORD", "MultiRecord", "multi_record"])
def test_execution_parameters_accept_both_spellings(spelling: str) -> None:
    # AWS's documented example answers "MULTI_RECORD"; the SDK's local mode refuses it.
    values, notes = parse_execution_parameters(
        {"BatchStrategy": spelling, "MaxPayloadInMB": 6, "MaxConcurrentTransforms": 8}
    )
    assert values == {"BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6, "MaxConcurrentTransforms": 8}
    assert notes == []
    assert parse_execution_parameters({"BatchStrategy": "SINGLE_RECORD"})[0] == {
        "BatchStrategy": "SingleRecord"
    }


def test_unusable_execution_parameters_are_noted_and_ignored() -> None:
    values, notes = parse_execution_parameters(
        {"BatchStrategy": "BOTH", "MaxPayloadInMB": 1000, "MaxConcurrentTransforms": True}
    )
    assert values == {}
    assert len(notes) == 3
    assert parse_execution_parameters(["not", "a", "mapping"])[0] == {}  # type: ignore[arg-type]


def test_precedence_request_then_container_then_defaults() -> None:
    offered = {"BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20, "MaxConcurrentTransforms": 4}
    resolved = TransformSettings(**CSV, max_payload_mb=2).resolve(offered)
    assert (resolved.batch_strategy, resolved.max_payload_mb, resolved.max_concurrent) == (
        "SingleRecord",
        2,
        4,
    )
    assert resolved.sources == {
        "BatchStrategy": "/execution-parameters",
        "MaxPayloadInMB": "request",
        "MaxConcurrentTransforms": "/execution-parameters",
    }
    defaults = TransformSettings(**CSV).resolve(None)
    assert (defaults.batch_strategy, defaults.max_payload_mb, defaults.max_concurrent) == (
        "MultiRecord",
        6,
        1,
    )
    assert "BatchStrategy=MultiRecord (default)" in defaults.describe()


def test_container_environment() -> None:
    # SAGEMAKER_BATCH always; the other three only when the request set them.
    assert TransformSettings(**CSV).container_environment({"A": "1"}) == {"A": "1", "SAGEMAKER_BATCH": "true"}
    env = TransformSettings(
        **CSV, batch_strategy="SingleRecord", max_payload_mb=0, max_concurrent=3
    ).container_environment()
    assert env == {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0",
        "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3",
    }
