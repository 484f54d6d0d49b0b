"""`byoc invoke`: one request to an endpoint; the status, headers and body as the endpoint answers.

`run_async` is the same for an asynchronous endpoint: InvokeEndpointAsync with the input in S3 (or,
up to 128,000 bytes, inline), then the output or failure object waited for, with progress, and
printed: the result on stdout, an error on stderr.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from deploy.aws.clients.botocore_errors import error_code, error_message
from deploy.aws.clients.session import Aws
from deploy.aws.output import Progress, format_elapsed, say


@dataclass(frozen=True)
class InvokeRequest:
    endpoint: str
    body: bytes
    content_type: str
    accept: str | None = None
    custom_attributes: str | None = None
    inference_id: str | None = None
    target_variant: str | None = None
    # A multi-model endpoint's model: the archive's path below its S3 prefix (a.tar.gz, dir/b.tar.gz).
    target_model: str | None = None

    def headers(self) -> dict[str, str]:
        """InvokeEndpoint's optional parameters the request sets."""
        optional = {
            "Accept": self.accept,
            "CustomAttributes": self.custom_attributes,
            "InferenceId": self.inference_id,
            "TargetVariant": self.target_variant,
            "TargetModel": self.target_model,
        }
        return {key: value for key, value in optional.items() if value}


def run(aws: Aws, request: InvokeRequest) -> int:
    say(f"invoking {request.endpoint} with {len(request.body):,} bytes of {request.content_type}")
    try:
        answer = aws.runtime.invoke(request.endpoint, request.body, request.content_type, **request.headers())
    except ClientError as exc:
        _print_refusal(exc)
        return 1
    metadata = answer.get("ResponseMetadata", {})
    payload = answer["Body"].read()
    say(f"status: {metadata.get('HTTPStatusCode', 200)}")
    say(f"content-type: {answer.get('ContentType', '')}")
    if answer.get("CustomAttributes"):
        say(f"custom-attributes: {answer['CustomAttributes']}")
    if answer.get("InvokedProductionVariant"):
        say(f"variant: {answer['InvokedProductionVariant']}")
    say("")
    sys.stdout.write(payload.decode("utf-8", errors="replace"))
    if payload and not payload.endswith(b"\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


@dataclass(frozen=True)
class AsyncInvokeRequest:
    endpoint: str
    content_type: str
    input_location: str | None = None  # an s3:// URI; or
    body: bytes | None = None  # the payload inline (at most 128,000 bytes)
    accept: str | None = None
    custom_attributes: str | None = None
    inference_id: str | None = None
    ttl_seconds: int | None = None
    invocation_timeout_seconds: int | None = None
    wait_seconds: float = 900.0  # how long to wait for the result; 0: do not wait
    poll_seconds: float = 5.0

    def parameters(self) -> dict:
        optional = {
            "ContentType": self.content_type,
            "InputLocation": self.input_location,
            "Body": self.body,
            "Accept": self.accept,
            "CustomAttributes": self.custom_attributes,
            "InferenceId": self.inference_id,
            "RequestTTLSeconds": self.ttl_seconds,
            "InvocationTimeoutSeconds": self.invocation_timeout_seconds,
        }
        return {key: value for key, value in optional.items() if value is not None}


def run_async(aws: Aws, request: AsyncInvokeRequest, clock=time.monotonic, sleep=time.sleep) -> int:
    source = request.input_location or f"{len(request.body or b''):,} bytes inline"
    say(f"invoking {request.endpoint} asynchronously with {source} ({request.content_type})")
    try:
        answer = aws.runtime.invoke_async(request.endpoint, **request.parameters())
    except ClientError as exc:
        _print_refusal(exc)
        return 1
    output, failure = answer["OutputLocation"], answer.get("FailureLocation")
    print(f"inference id: {answer['InferenceId']}", file=sys.stderr)
    print(f"output: {output}", file=sys.stderr)
    if failure:
        print(f"failure: {failure}", file=sys.stderr)
    if request.wait_seconds <= 0:
        say(output)
        return 0
    progress = Progress(f"inference {answer['InferenceId']}", sys.stderr)
    started = clock()
    while True:
        elapsed = clock() - started
        result = aws.s3.read(output)
        if result is not None:
            progress.finish("result written", elapsed)
            _write(result)
            return 0
        error = aws.s3.read(failure) if failure else None
        if error is not None:
            progress.finish("failed", elapsed)
            print(error.decode("utf-8", errors="replace"), file=sys.stderr)
            return 1
        if elapsed >= request.wait_seconds:
            progress.finish("still waiting", elapsed)
            print(
                f"byoc invoke: no result after {format_elapsed(elapsed)}; it will be at {output} "
                f"(or, failed, at {failure})",
                file=sys.stderr,
            )
            return 1
        progress.update("waiting for the result", elapsed)
        sleep(request.poll_seconds)


def _write(payload: bytes) -> None:
    sys.stdout.write(payload.decode("utf-8", errors="replace"))
    if payload and not payload.endswith(b"\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def _print_refusal(exc: ClientError) -> None:
    """The endpoint's refusal on stderr: for a ModelError, the container's own status and message."""
    response = exc.response
    if error_code(exc) != "ModelError":
        print(f"status: {error_message(exc)}", file=sys.stderr)
        return
    print(
        f"status: ModelError: the container answered {response.get('OriginalStatusCode', '?')}",
        file=sys.stderr,
    )
    message = response.get("OriginalMessage") or response["Error"].get("Message", "")
    print(f"message: {message}", file=sys.stderr)
    if response.get("LogStreamArn"):
        print(f"log stream: {response['LogStreamArn']}", file=sys.stderr)
