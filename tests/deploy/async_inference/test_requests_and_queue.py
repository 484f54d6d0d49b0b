"""InvokeEndpointAsync's request rules, where results go, and the queue. Pure.

Contracts: SageMaker Runtime API reference, InvokeEndpointAsync (botocore's sagemaker-runtime model:
header names, InputLocation/Body, RequestTTLSeconds 60-21600 default 21600,
InvocationTimeoutSeconds 1-3600 default 900, InferenceId 1-64, S3OutputPathExtension, Filename,
202 with OutputLocation and FailureLocation); "Monitor asynchronous endpoints"
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-monitor.html) for the queue metrics.
"""

from __future__ import annotations

import pytest

from deploy.async_inference import requests
from deploy.async_inference.locations import LocationError, parse_s3_uri
from deploy.async_inference.queue import AsyncQueue
from deploy.async_inference.requests import RequestError

INPUT = {requests.INPUT_LOCATION: "s3://bucket/in/payload.csv"}


def test_defaults_and_a_generated_id() -> None:
    request = requests.parse(INPUT, b"", new_id="generated")
    assert request.inference_id == "generated"
    assert (request.ttl_seconds, request.invocation_timeout_seconds) == (21600, 900)
    assert request.input_location == "s3://bucket/in/payload.csv" and request.inline_body is None


def test_every_header_is_read() -> None:
    headers = {
        "x-amzn-sagemaker-inputlocation": "s3://bucket/in/p",
        "X-Amzn-SageMaker-Content-Type": "text/csv",
        "X-Amzn-SageMaker-Accept": "application/json",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
        "X-Amzn-SageMaker-Inference-Id": "my-id",
        "X-Amzn-SageMaker-RequestTTLSeconds": "60",
        "X-Amzn-SageMaker-InvocationTimeoutSeconds": "3600",
        "X-Amzn-SageMaker-S3OutputPathExtension": "2024/06",
        "X-Amzn-SageMaker-Filename": "result.json",
    }
    request = requests.parse(headers, b"")
    assert (request.content_type, request.accept, request.custom_attributes) == (
        "text/csv",
        "application/json",
        "trace=1",
    )
    assert (request.inference_id, request.ttl_seconds, request.invocation_timeout_seconds) == (
        "my-id",
        60,
        3600,
    )
    assert requests.container_headers(request) == {
        "X-Amzn-SageMaker-Inference-Id": "my-id",
        "Content-Type": "text/csv",
        "Accept": "application/json",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
    }


def test_inline_body() -> None:
    request = requests.parse({}, b"1,2,3")
    assert request.inline_body == b"1,2,3" and request.input_location is None


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({}, b"", "Provide exactly one of Body and InputLocation"),
        (INPUT, b"x", "mutually exclusive"),
        ({requests.INPUT_LOCATION: "ftp://bucket/x"}, b"", "inputLocation"),
        ({}, b"x" * 128_001, "body"),
        ({**INPUT, requests.INFERENCE_ID: "x" * 65}, b"", "inferenceId"),
        ({**INPUT, requests.INFERENCE_ID: " leading-blank"}, b"", "inferenceId"),
        ({**INPUT, requests.REQUEST_TTL: "59"}, b"", "requestTTLSeconds.*between 60 and 21600"),
        ({**INPUT, requests.REQUEST_TTL: "soon"}, b"", "requestTTLSeconds.*integer"),
        ({**INPUT, requests.INVOCATION_TIMEOUT: "3601"}, b"", "invocationTimeoutSeconds.*between 1 and 3600"),
        ({**INPUT, requests.OUTPUT_PATH_EXTENSION: "s3://x"}, b"", "s3OutputPathExtension"),
        ({**INPUT, requests.FILENAME: "a.b.c"}, b"", "filename"),
        ({**INPUT, requests.CUSTOM_ATTRIBUTES: "é"}, b"", "customAttributes"),
    ],
)
def test_refused_as_validation_errors(headers: dict, body: bytes, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        requests.parse(headers, body)


def test_locations() -> None:
    request = requests.parse({**INPUT, requests.INFERENCE_ID: "abc"}, b"")
    where = requests.locations(request, "s3://out-bucket/results/", "s3://fail-bucket/errors")
    assert str(where.output) == "s3://out-bucket/results/abc.out"
    assert str(where.failure) == "s3://fail-bucket/errors/abc-error.out"
    # Without S3FailurePath, errors go beside the results.
    assert str(requests.locations(request, "s3://bkt/r", None).failure) == "s3://bkt/r/abc-error.out"
    named = requests.parse(
        {**INPUT, requests.FILENAME: "day.json", requests.OUTPUT_PATH_EXTENSION: "2024/06"}, b""
    )
    where = requests.locations(named, "s3://bkt/r", None)
    assert (str(where.output), str(where.failure)) == (
        "s3://bkt/r/2024/06/day.json",
        "s3://bkt/r/2024/06/day.json-error.out",
    )
    status, headers, body = requests.accepted(request, requests.locations(request, "s3://bkt/r", None))
    assert status == 202 and body == {"InferenceId": "abc"}
    assert headers == {
        "X-Amzn-SageMaker-OutputLocation": "s3://bkt/r/abc.out",
        "X-Amzn-SageMaker-FailureLocation": "s3://bkt/r/abc-error.out",
    }


def test_s3_uris() -> None:
    assert parse_s3_uri("s3://bucket").join("a/", "/b").key == "a/b"
    for bad in ("https://bucket/x", "s3://Bucket/x", "s3:/bucket", ""):
        with pytest.raises(LocationError):
            parse_s3_uri(bad)


def test_queue_caps_what_is_in_flight_and_keeps_order() -> None:
    queue: AsyncQueue[str] = AsyncQueue(capacity=2, instances=2)
    for name in "abc":
        queue.submit(name, now=0.0, ttl_seconds=60)
    assert queue.take(1.0) == ("a", [])
    assert queue.take(1.0) == ("b", [])
    assert queue.take(1.0) == (None, [])  # two in flight: c waits
    snapshot = queue.snapshot(5.0)
    assert snapshot["ApproximateBacklogSize"] == 3 and snapshot["ApproximateBacklogSizePerInstance"] == 1.5
    assert snapshot["ApproximateAgeOfOldestRequest"] == 5.0 and snapshot["Waiting"] == 1
    queue.done(ok=True)
    assert queue.take(6.0) == ("c", [])
    queue.done(ok=False)
    queue.done(ok=True)
    assert (
        queue.snapshot(7.0)["InvocationsProcesssed"] == 2 and queue.snapshot(7.0)["InvocationFailures"] == 1
    )


def test_queue_expires_requests_past_their_ttl() -> None:
    queue: AsyncQueue[str] = AsyncQueue(capacity=1)
    queue.submit("old", now=0.0, ttl_seconds=60)
    queue.submit("new", now=50.0, ttl_seconds=60)
    assert queue.take(61.0) == ("new", ["old"])
    assert queue.snapshot(61.0)["ExpiredRequests"] == 1
    assert AsyncQueue(capacity=1, instances=0).snapshot(0)["HasBacklogWithoutCapacity"] == 0.0
    empty: AsyncQueue[str] = AsyncQueue(capacity=1, instances=0)
    empty.submit("x", now=0.0, ttl_seconds=60)
    assert empty.snapshot(1.0)["HasBacklogWithoutCapacity"] == 1.0
