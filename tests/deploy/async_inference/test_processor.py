"""One asynchronous request through a real `serve` process and moto's S3 on loopback.

Contracts: "Asynchronous inference" (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html:
the payload from InputLocation, the answer to the output location, errors to the failure
location); InvokeEndpointAsync (RequestTTLSeconds, InvocationTimeoutSeconds). boto3 reaches S3 with
its standard environment: here AWS_ENDPOINT_URL_S3 only, as a user pointing at moto would set it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from async_fixtures import BUCKET, SEEING_CODE, SLOW_CODE
from server_helpers import CSV_ROWS, make_model_dir, serving

from container.serving.server_process import ServerProcess
from deploy.async_inference import processor, requests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[ServerProcess]:
    with serving(make_model_dir(tmp_path_factory.mktemp("iris"), model_file)) as server:
        yield server


def run(request: requests.AsyncRequest, server: ServerProcess, s3: Any) -> processor.Outcome:
    where = requests.locations(request, f"s3://{BUCKET}/results", f"s3://{BUCKET}/errors")

    async def go() -> processor.Outcome:
        async with httpx.AsyncClient(trust_env=False) as http:
            return await processor.process(request, where, server.url, http, s3, received=0.0)

    return asyncio.run(go())


def read(s3: Any, key: str) -> tuple[bytes, str]:
    answer = s3.get_object(Bucket=BUCKET, Key=key)
    return answer["Body"].read(), answer["ContentType"]


def test_success_writes_the_answer_to_the_output_location(iris: ServerProcess, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/rows.csv", Body=CSV_ROWS.encode())
    headers = {
        requests.INPUT_LOCATION: f"s3://{BUCKET}/in/rows.csv",
        requests.CONTENT_TYPE: "text/csv",
        requests.ACCEPT: "text/csv",
        requests.INFERENCE_ID: "ok-1",
    }
    outcome = run(requests.parse(headers, b""), iris, s3)
    assert outcome.ok and outcome.code == "Completed"
    assert str(outcome.location) == f"s3://{BUCKET}/results/ok-1.out"
    body, content_type = read(s3, "results/ok-1.out")
    assert [line.split(",")[0] for line in body.decode().splitlines()] == ["0", "2"]
    assert content_type.startswith("text/csv")


def test_a_container_error_goes_to_the_failure_location(iris: ServerProcess, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/bad.csv", Body=b"1,2\n")
    headers = {requests.INPUT_LOCATION: f"s3://{BUCKET}/in/bad.csv", requests.CONTENT_TYPE: "text/csv"}
    outcome = run(requests.parse(headers, b"", new_id="bad-1"), iris, s3)
    assert not outcome.ok and outcome.code == "ModelError"
    assert str(outcome.location) == f"s3://{BUCKET}/errors/bad-1-error.out"
    document = json.loads(read(s3, "errors/bad-1-error.out")[0])
    assert document["ErrorCode"] == "CLIENT_ERROR_FROM_MODEL" and document["OriginalStatusCode"] == 400
    assert json.loads(document["OriginalMessage"])["code"] == "wrong_feature_count"
    assert "results/bad-1.out" not in str(s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_an_input_that_cannot_be_read(iris: ServerProcess, s3: Any) -> None:
    headers = {requests.INPUT_LOCATION: f"s3://{BUCKET}/in/missing.csv", requests.CONTENT_TYPE: "text/csv"}
    outcome = run(requests.parse(headers, b"", new_id="gone"), iris, s3)
    assert outcome.code == "RequestDownloadFailure"
    assert json.loads(read(s3, "errors/gone-error.out")[0])["ErrorCode"] == "RequestDownloadFailure"


def test_inline_body(iris: ServerProcess, s3: Any) -> None:
    headers = {requests.CONTENT_TYPE: "text/csv", requests.ACCEPT: "application/json"}
    outcome = run(requests.parse(headers, CSV_ROWS.encode(), new_id="inline"), iris, s3)
    assert outcome.ok
    assert json.loads(read(s3, "results/inline.out")[0])["predictions"] == [0, 2]


def test_invocation_timeout(tmp_path: Path, s3: Any) -> None:
    with serving(make_model_dir(tmp_path, None, code=SLOW_CODE)) as slow:
        headers = {requests.CONTENT_TYPE: "text/plain", requests.INVOCATION_TIMEOUT: "1"}
        outcome = run(requests.parse(headers, b"3", new_id="slow"), slow, s3)
    assert outcome.code == "InvocationTimeout"
    document = json.loads(read(s3, "errors/slow-error.out")[0])
    assert document == {
        "ErrorCode": "InvocationTimeout",
        "Message": "the container did not answer within InvocationTimeoutSeconds=1",
    }


def test_expired(s3: Any) -> None:
    request = requests.parse(
        {requests.INPUT_LOCATION: f"s3://{BUCKET}/in/x", requests.REQUEST_TTL: "60"}, b"", "old"
    )
    where = requests.locations(request, f"s3://{BUCKET}/results", None)
    outcome = asyncio.run(processor.expire(request, where, s3, waited=75.0))
    assert outcome.code == "ExpiredRequest"
    assert (
        "longer than its RequestTTLSeconds=60" in json.loads(read(s3, "results/old-error.out")[0])["Message"]
    )


def test_what_custom_code_sees(tmp_path: Path, s3: Any) -> None:
    """On an async endpoint, custom code is called as on a real-time one, with the S3 object as the body.

    input_fn gets the object's bytes (text for CSV and JSON, as for any request) and the
    ContentType given to InvokeEndpointAsync; output_fn gets its Accept; the context carries the
    inference id (the API's, or the one generated for the call) and the custom attributes. The
    answer is stored as the output object, with the Content-Type output_fn chose.
    """
    s3.put_object(Bucket=BUCKET, Key="in/seen.csv", Body=b"5.1,3.5,1.4,0.2\n")
    headers = {
        requests.INPUT_LOCATION: f"s3://{BUCKET}/in/seen.csv",
        requests.CONTENT_TYPE: "text/csv",
        requests.ACCEPT: "application/json",
        requests.CUSTOM_ATTRIBUTES: "tenant=7",
        requests.INFERENCE_ID: "seen-1",
    }
    with serving(make_model_dir(tmp_path, None, code=SEEING_CODE)) as server:
        outcome = run(requests.parse(headers, b""), server, s3)
    assert outcome.ok
    body, content_type = read(s3, "results/seen-1.out")
    assert content_type == "application/json"
    assert json.loads(body) == {
        "input_type": "str",
        "input": "5.1,3.5,1.4,0.2\n",
        "content_type": "text/csv",
        "accept": "application/json",
        "inference_id": "seen-1",
        "custom_attributes": "tenant=7",
        "sagemaker_headers": ["x-amzn-sagemaker-custom-attributes", "x-amzn-sagemaker-inference-id"],
        "batch_transform": False,
    }
