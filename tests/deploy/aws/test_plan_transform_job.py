"""The CreateTransformJob request `byoc transform` sends, and how a DescribeTransformJob answer ends
the wait. Pure.

Contract: SageMaker API reference, CreateTransformJob and DescribeTransformJob (field names, the
job name pattern, ModelClientConfig ranges, Environment at most 16 entries, TransformJobStatus).
"""

from __future__ import annotations

import pytest

from deploy.aws.plan.transform_job import JobRequestError, JobSpec, create_request, interpret
from deploy.transform.settings import SettingsError, TransformSettings

CSV = TransformSettings(content_type="text/csv", accept="text/csv", split_type="Line", assemble_with="Line")


def spec(**changes: object) -> JobSpec:
    fields: dict = {
        "name": "score-2024-06",
        "model_name": "iris",
        "input_uri": "s3://bucket/input/",
        "output_uri": "s3://bucket/output/",
        "instance_type": "ml.m5.large",
        "settings": CSV,
    }
    fields.update(changes)
    return JobSpec(**fields)


def test_the_smallest_request() -> None:
    assert create_request(spec()) == {
        "TransformJobName": "score-2024-06",
        "ModelName": "iris",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/input/"}},
            "SplitType": "Line",
            "CompressionType": "None",
            "ContentType": "text/csv",
        },
        "TransformOutput": {
            "S3OutputPath": "s3://bucket/output/",
            "AssembleWith": "Line",
            "Accept": "text/csv",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def test_every_setting() -> None:
    settings = TransformSettings(
        content_type="text/csv",
        accept="text/csv",
        split_type="Line",
        batch_strategy="SingleRecord",
        max_payload_mb=0,
        max_concurrent=4,
        assemble_with="Line",
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
    )
    request = create_request(
        spec(
            settings=settings,
            instance_count=2,
            environment={"A": "1"},
            invocation_timeout=3600,
            max_retries=0,
        )
    )
    assert request["BatchStrategy"] == "SingleRecord"
    assert (request["MaxPayloadInMB"], request["MaxConcurrentTransforms"]) == (0, 4)
    assert request["ModelClientConfig"] == {"InvocationsTimeoutInSeconds": 3600, "InvocationsMaxRetries": 0}
    assert request["Environment"] == {"A": "1"}
    assert request["TransformResources"]["InstanceCount"] == 2
    assert request["DataProcessing"] == {
        "InputFilter": "$[1:]",
        "JoinSource": "Input",
        "OutputFilter": "$[0,-1]",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "-bad"}, "not a valid transform job name"),
        ({"input_uri": "bucket/input"}, "--input 'bucket/input' is not of the form"),
        ({"environment": {str(i): "x" for i in range(17)}}, "at most 16"),
        ({"invocation_timeout": 0}, "1 to 3600"),
        ({"max_retries": 4}, "0 to 3"),
    ],
)
def test_refused(changes: dict, message: str) -> None:
    with pytest.raises(JobRequestError, match=message):
        create_request(spec(**changes))


def test_settings_refused_before_anything_is_sent() -> None:
    with pytest.raises(SettingsError):
        create_request(spec(settings=TransformSettings(max_payload_mb=50, max_concurrent=3)))


@pytest.mark.parametrize(
    ("describe", "done", "ok", "message"),
    [
        ({"TransformJobStatus": "InProgress"}, False, False, ""),
        ({"TransformJobStatus": "Stopping"}, False, False, ""),
        ({"TransformJobStatus": "Completed"}, True, True, ""),
        (
            {"TransformJobName": "j", "TransformJobStatus": "Failed", "FailureReason": "ClientError: 400"},
            True,
            False,
            "transform job j is Failed: ClientError: 400",
        ),
        ({"TransformJobName": "j", "TransformJobStatus": "Stopped"}, True, False, "no FailureReason given"),
        (None, True, False, "does not exist"),
    ],
)
def test_interpret(describe: dict | None, done: bool, ok: bool, message: str) -> None:
    state = interpret(describe)
    assert (state.done, state.ok) == (done, ok)
    assert message in state.message
