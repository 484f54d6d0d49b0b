"""The SageMaker Runtime wire format: header mapping, request validation, error shapes (no I/O)."""

from __future__ import annotations

import json

import pytest

from deploy.local import wire


def test_only_the_headers_invoke_endpoint_forwards_reach_the_container() -> None:
    incoming = {
        "content-type": "text/csv",
        "accept": "application/json",
        "x-amzn-sagemaker-custom-attributes": "trace=1",
        "X-Amzn-SageMaker-Inference-Id": "req-7",
        "x-amzn-sagemaker-target-model": "m.tar.gz",
        "Authorization": "AWS4-HMAC-SHA256 Credential=...",
        "X-Amz-Date": "20260101T000000Z",
        "User-Agent": "Boto3/1.34",
    }
    assert wire.container_request_headers(incoming) == {
        "Content-Type": "text/csv",
        "Accept": "application/json",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
        "X-Amzn-SageMaker-Inference-Id": "req-7",
        "X-Amzn-SageMaker-Target-Model": "m.tar.gz",
    }


def test_response_headers_carry_the_content_type_attributes_and_variant() -> None:
    headers = wire.response_headers(
        {
            "content-type": "text/csv; charset=utf-8",
            "X-Amzn-SageMaker-Custom-Attributes": "a=b",
            "X-Request-Id": "r",
        }
    )
    assert headers == {
        "x-Amzn-Invoked-Production-Variant": "AllTraffic",
        "Content-Type": "text/csv; charset=utf-8",
        "X-Amzn-SageMaker-Custom-Attributes": "a=b",
    }


@pytest.mark.parametrize(
    ("headers", "size", "fragment"),
    [
        ({}, wire.MAX_PAYLOAD_BYTES + 1, "exceeds the limit"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "x" * 1025}, 1, "customAttributes"),
        ({"X-Amzn-SageMaker-Custom-Attributes": "caf\u00e9"}, 1, "customAttributes"),
        ({"X-Amzn-SageMaker-Inference-Id": "i" * 65}, 1, "inferenceId"),
        ({"X-Amzn-SageMaker-Target-Variant": "Blue"}, 1, "Variant Blue not found"),
    ],
)
def test_requests_the_service_refuses(headers: dict[str, str], size: int, fragment: str) -> None:
    assert fragment in (wire.validate_request(headers, size) or "")


def test_a_valid_request_passes() -> None:
    headers = {
        "X-Amzn-SageMaker-Target-Variant": "AllTraffic",
        "X-Amzn-SageMaker-Custom-Attributes": "a" * 1024,
    }
    assert wire.validate_request(headers, wire.MAX_PAYLOAD_BYTES) is None


def test_model_error_has_the_shape_botocore_parses() -> None:
    status, headers, body = wire.model_error("ep", 400, b'{"code":"bad"}', hint="See logs.")
    document = json.loads(body)
    assert status == 424
    assert headers["x-amzn-ErrorType"].startswith("ModelError")
    assert document["__type"] == "ModelError"
    assert document["OriginalStatusCode"] == 400
    assert document["OriginalMessage"] == '{"code":"bad"}'
    assert document["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/ep")
    assert document["Message"].startswith(
        'Received client error (400) from primary with message "{"code":"bad"}".'
    )
    assert document["Message"].endswith("See logs.")


def test_a_container_5xx_is_a_server_error() -> None:
    _, _, body = wire.model_error("ep", 503, b"loading")
    assert json.loads(body)["Message"].startswith("Received server error (503)")


def test_unknown_endpoint_is_a_validation_error_as_the_service_words_it() -> None:
    status, headers, body = wire.endpoint_not_found("nope")
    assert status == 400
    assert headers["x-amzn-ErrorType"].startswith("ValidationError")
    assert json.loads(body)["Message"] == "Endpoint nope of account 123456789012 not found."
