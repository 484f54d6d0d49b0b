"""`byoc invoke`: one request to an endpoint; the status, headers and body as the endpoint answers.

A later async invoke (InvokeEndpointAsync: the input in S3, the answer written there) adds its
request and function here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from botocore.exceptions import ClientError

from deploy.aws.clients.botocore_errors import error_code, error_message
from deploy.aws.clients.session import Aws
from deploy.aws.output import say


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
