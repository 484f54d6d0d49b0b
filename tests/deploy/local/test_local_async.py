"""`byoc local up --async-output`: InvokeEndpointAsync against the image in Docker and moto's S3.

Contracts: SageMaker Runtime API reference, InvokeEndpointAsync (202 with InferenceId,
OutputLocation and FailureLocation; RequestTTLSeconds; InvocationTimeoutSeconds); "Asynchronous
inference" (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html: the input read
from S3, the result, or the error, written to S3); AsyncInferenceConfig (an async endpoint takes
InvokeEndpointAsync only; ClientConfig.MaxConcurrentInvocationsPerInstance). The front reaches S3
through boto3's standard environment: AWS_ENDPOINT_URL_S3 alone points it at moto.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from local_helpers import LocalCli, runtime_client
from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.docker

BUCKET = "byoc-async"
ROWS = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"

SLOW_CODE = """
import time


def model_fn(model_dir):
    return None


def transform_fn(model, data, content_type, accept):
    time.sleep(float(data))
    return "slept", "text/plain"
"""

SEEING_CODE = """
import json


def model_fn(model_dir):
    return None


def input_fn(input_data, content_type, context):
    return {"input_type": type(input_data).__name__, "input": input_data, "content_type": content_type}


def predict_fn(data, model, context):
    return data


def output_fn(prediction, accept, context):
    seen = dict(prediction)
    seen["accept"] = accept
    seen["inference_id"] = context.inference_id
    seen["custom_attributes"] = context.custom_attributes
    seen["sagemaker_headers"] = sorted(n for n in context.headers if n.startswith("x-amzn-sagemaker"))
    seen["batch_transform"] = context.config.batch_transform
    return json.dumps(seen), "application/json"
"""


@pytest.fixture(scope="module")
def moto_env() -> Iterator[dict[str, str]]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield {
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    server.stop()


@pytest.fixture(scope="module")
def s3(moto_env: dict[str, str]) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=moto_env["AWS_ENDPOINT_URL_S3"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def cli(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: None, moto_env: dict[str, str]
) -> Iterator[LocalCli]:
    cli = LocalCli(tmp_path_factory.mktemp("byoc-local-async"))
    cli.env = {k: v for k, v in cli.env.items() if not k.startswith("AWS_")} | moto_env
    yield cli
    cli("down", "--all", check=False)


def code_dir(root: Path, code: str) -> Path:
    (root / "code").mkdir(parents=True)
    (root / "code" / "inference.py").write_text(code)
    return root


def wait_for_object(s3: Any, key: str, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def key_of(uri: str) -> str:
    assert uri.startswith(f"s3://{BUCKET}/"), uri
    return uri[len(f"s3://{BUCKET}/") :]


def test_round_trips_success_and_failure(cli: LocalCli, image: str, model_archive: Path, s3: Any) -> None:
    url = cli.up(
        "iris-async", image, model_archive,
        "--async-output", f"s3://{BUCKET}/results/", "--async-failure", f"s3://{BUCKET}/errors/",
    )  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="requests/rows.csv", Body=ROWS)
    s3.put_object(Bucket=BUCKET, Key="requests/bad.csv", Body=b"1,2\n")
    runtime = runtime_client(url)
    answer = runtime.invoke_endpoint_async(
        EndpointName="iris-async",
        InputLocation=f"s3://{BUCKET}/requests/rows.csv",
        ContentType="text/csv",
        Accept="text/csv",
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    inference_id = answer["InferenceId"]
    assert answer["OutputLocation"] == f"s3://{BUCKET}/results/{inference_id}.out"
    assert answer["FailureLocation"] == f"s3://{BUCKET}/errors/{inference_id}-error.out"
    result = wait_for_object(s3, key_of(answer["OutputLocation"]))
    assert [line.split(b",")[0] for line in result.splitlines()] == [b"0", b"2"]

    failed = runtime.invoke_endpoint_async(
        EndpointName="iris-async", InputLocation=f"s3://{BUCKET}/requests/bad.csv", ContentType="text/csv"
    )
    error = json.loads(wait_for_object(s3, key_of(failed["FailureLocation"])))
    assert error["ErrorCode"] == "CLIENT_ERROR_FROM_MODEL" and error["OriginalStatusCode"] == 400
    assert json.loads(error["OriginalMessage"])["code"] == "wrong_feature_count"

    # An async endpoint takes InvokeEndpointAsync only.
    with pytest.raises(ClientError, match="asynchronous endpoint"):
        runtime.invoke_endpoint(EndpointName="iris-async", Body=ROWS, ContentType="text/csv")
    status = json.loads(cli("status", "iris-async").stdout)
    assert status["async"]["queue"]["InvocationsProcesssed"] == 1
    assert status["async"]["queue"]["InvocationFailures"] == 1


def test_requests_beyond_the_cap_wait_in_the_queue(
    cli: LocalCli, image: str, tmp_path: Path, s3: Any
) -> None:
    url = cli.up(
        "slow-async", image, code_dir(tmp_path / "model", SLOW_CODE),
        "--async-output", f"s3://{BUCKET}/slow/", "--async-max-concurrent", "1",
    )  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="requests/sleep.txt", Body=b"1.5")
    runtime = runtime_client(url)
    answers = [
        runtime.invoke_endpoint_async(
            EndpointName="slow-async",
            InputLocation=f"s3://{BUCKET}/requests/sleep.txt",
            ContentType="text/plain",
        )
        for _ in range(3)
    ]
    queue = json.loads(cli("status", "slow-async").stdout)["async"]["queue"]
    assert queue["ApproximateBacklogSize"] == 3 and queue["InFlight"] == 1 and queue["Waiting"] == 2
    for answer in answers:
        assert wait_for_object(s3, key_of(answer["OutputLocation"])) == b"slept"
    assert json.loads(cli("status", "slow-async").stdout)["async"]["queue"]["ApproximateBacklogSize"] == 0


def test_what_custom_code_sees_on_an_async_endpoint(
    cli: LocalCli, image: str, tmp_path: Path, s3: Any
) -> None:
    """Custom code is called as on a real-time endpoint, with the S3 object as the body: input_fn gets
    its bytes (text for CSV and JSON) and the call's ContentType, output_fn the call's Accept, the
    context the InferenceId and CustomAttributes; no SAGEMAKER_BATCH. Its answer is the output object."""
    url = cli.up(
        "seeing-async", image, code_dir(tmp_path / "model", SEEING_CODE), "--async-output", f"s3://{BUCKET}/seen/"
    )  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="requests/seen.csv", Body=b"5.1,3.5,1.4,0.2\n")
    answer = runtime_client(url).invoke_endpoint_async(
        EndpointName="seeing-async",
        InputLocation=f"s3://{BUCKET}/requests/seen.csv",
        ContentType="text/csv",
        Accept="application/json",
        CustomAttributes="tenant=7",
        InferenceId="request-42",
    )
    assert answer["OutputLocation"] == f"s3://{BUCKET}/seen/request-42.out"
    assert json.loads(wait_for_object(s3, "seen/request-42.out")) == {
        "input_type": "str",
        "input": "5.1,3.5,1.4,0.2\n",
        "content_type": "text/csv",
        "accept": "application/json",
        "inference_id": "request-42",
        "custom_attributes": "tenant=7",
        "sagemaker_headers": ["x-amzn-sagemaker-custom-attributes", "x-amzn-sagemaker-inference-id"],
        "batch_transform": False,
    }
    assert s3.head_object(Bucket=BUCKET, Key="seen/request-42.out")["ContentType"] == "application/json"
