"""InvokeEndpointAsync on the wire, as botocore sends it and reads the answer (rest-json). Pure.

SageMaker Runtime API reference, InvokeEndpointAsync (botocore's sagemaker-runtime service model):

    POST /endpoints/NAME/async-invocations                      -> 202
    X-Amzn-SageMaker-Content-Type / -Accept / -Custom-Attributes
    X-Amzn-SageMaker-Inference-Id          1-64 printable characters; generated when absent
    X-Amzn-SageMaker-InputLocation         s3:// or https:// URI of the request payload
    (body)                                 or the payload inline, at most 128,000 bytes (not both)
    X-Amzn-SageMaker-RequestTTLSeconds     60-21600, default 21600: the longest wait in the queue
    X-Amzn-SageMaker-InvocationTimeoutSeconds  1-3600, default 900: the longest processing time
    X-Amzn-SageMaker-S3OutputPathExtension appended to the output (and failure) path
    X-Amzn-SageMaker-Filename              the output object's name

    answer: {"InferenceId": ...}, X-Amzn-SageMaker-OutputLocation, X-Amzn-SageMaker-FailureLocation

Where the result objects are named: the API gives the exact URIs in the answer, and says only that
without Filename "a filename based on the inference ID" is made. `<id>.out` and `<id>-error.out` are
the names AWS's own examples show; with Filename, the output is that name and the failure object
`<Filename>-error.out`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from deploy.async_inference.locations import S3Uri, parse_s3_uri

CONTENT_TYPE = "X-Amzn-SageMaker-Content-Type"
ACCEPT = "X-Amzn-SageMaker-Accept"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
INPUT_LOCATION = "X-Amzn-SageMaker-InputLocation"
OUTPUT_PATH_EXTENSION = "X-Amzn-SageMaker-S3OutputPathExtension"
FILENAME = "X-Amzn-SageMaker-Filename"
REQUEST_TTL = "X-Amzn-SageMaker-RequestTTLSeconds"
INVOCATION_TIMEOUT = "X-Amzn-SageMaker-InvocationTimeoutSeconds"
OUTPUT_LOCATION = "X-Amzn-SageMaker-OutputLocation"
FAILURE_LOCATION = "X-Amzn-SageMaker-FailureLocation"

DEFAULT_TTL_SECONDS = 21600
DEFAULT_INVOCATION_TIMEOUT_SECONDS = 900
MAX_INLINE_BODY_BYTES = 128_000
MAX_INPUT_LOCATION = 1024
MAX_CUSTOM_ATTRIBUTES = 1024
_INFERENCE_ID = re.compile(r"\A\S[\x20-\x7e]{0,63}\Z")
_INPUT_LOCATION = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
_EXTENSION = re.compile(r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]{1,512}$")
_FILENAME = re.compile(r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]{0,31}$")


class RequestError(ValueError):
    """What the service answers with ValidationError (400) for this request."""


@dataclass(frozen=True)
class AsyncRequest:
    inference_id: str
    input_location: str | None  # None: the payload came inline
    inline_body: bytes | None
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    ttl_seconds: int
    invocation_timeout_seconds: int
    output_path_extension: str | None
    filename: str | None


def parse(headers: Mapping[str, str], body: bytes, new_id: str | None = None) -> AsyncRequest:
    """The request, checked as the service checks it; RequestError naming the first problem."""
    lowered = {key.lower(): value for key, value in headers.items()}

    def get(name: str) -> str | None:
        return lowered.get(name.lower())

    input_location = get(INPUT_LOCATION)
    if input_location is not None and body:
        raise RequestError("Body and InputLocation are mutually exclusive. Provide exactly one of them.")
    if input_location is None and not body:
        raise RequestError("Provide exactly one of Body and InputLocation.")
    if input_location is not None and (
        len(input_location) > MAX_INPUT_LOCATION or not _INPUT_LOCATION.match(input_location)
    ):
        raise RequestError(_constraint("inputLocation", f"match the pattern {_INPUT_LOCATION.pattern}"))
    if len(body) > MAX_INLINE_BODY_BYTES:
        raise RequestError(_constraint("body", f"have length less than or equal to {MAX_INLINE_BODY_BYTES}"))
    inference_id = get(INFERENCE_ID)
    if inference_id is not None and not _INFERENCE_ID.match(inference_id):
        raise RequestError(_constraint("inferenceId", "have length between 1 and 64 printable characters"))
    attributes = get(CUSTOM_ATTRIBUTES)
    if attributes is not None and (len(attributes) > MAX_CUSTOM_ATTRIBUTES or not attributes.isascii()):
        raise RequestError(
            _constraint("customAttributes", "have length less than or equal to 1024 and be ASCII")
        )
    extension = get(OUTPUT_PATH_EXTENSION)
    if extension is not None and not _EXTENSION.match(extension):
        raise RequestError(_constraint("s3OutputPathExtension", f"match the pattern {_EXTENSION.pattern}"))
    filename = get(FILENAME)
    if filename is not None and not _FILENAME.match(filename):
        raise RequestError(_constraint("filename", f"match the pattern {_FILENAME.pattern}"))
    return AsyncRequest(
        inference_id=inference_id or new_id or str(uuid.uuid4()),
        input_location=input_location,
        inline_body=None if input_location is not None else body,
        content_type=get(CONTENT_TYPE),
        accept=get(ACCEPT),
        custom_attributes=attributes,
        ttl_seconds=_bounded(get(REQUEST_TTL), "requestTTLSeconds", 60, 21600, DEFAULT_TTL_SECONDS),
        invocation_timeout_seconds=_bounded(
            get(INVOCATION_TIMEOUT), "invocationTimeoutSeconds", 1, 3600, DEFAULT_INVOCATION_TIMEOUT_SECONDS
        ),
        output_path_extension=extension,
        filename=filename,
    )


@dataclass(frozen=True)
class Locations:
    output: S3Uri
    failure: S3Uri


def locations(request: AsyncRequest, output_path: str, failure_path: str | None) -> Locations:
    """Where this request's result (or error) object goes. Without S3FailurePath, failures go beside
    the outputs (the output path)."""
    output_base, failure_base = parse_s3_uri(output_path), parse_s3_uri(failure_path or output_path)
    if request.output_path_extension:
        output_base = output_base.join(request.output_path_extension)
        failure_base = failure_base.join(request.output_path_extension)
    name = request.filename or f"{request.inference_id}.out"
    failure_name = (
        f"{request.filename}-error.out" if request.filename else f"{request.inference_id}-error.out"
    )
    return Locations(output_base.join(name), failure_base.join(failure_name))


def container_headers(request: AsyncRequest) -> dict[str, str]:
    """What the container gets with the payload: the types, the custom attributes and the inference id.

    The same headers an InvokeEndpoint request passes on (Content-Type, Accept,
    X-Amzn-SageMaker-Custom-Attributes, X-Amzn-SageMaker-Inference-Id); which ones SageMaker sends
    to the container of an async endpoint is not documented, so the id is always sent (it is the
    one way custom code can tie its logs to the result object).
    """
    headers = {INFERENCE_ID: request.inference_id}
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    if request.accept is not None:
        headers["Accept"] = request.accept
    if request.custom_attributes is not None:
        headers[CUSTOM_ATTRIBUTES] = request.custom_attributes
    return headers


def accepted(request: AsyncRequest, where: Locations) -> tuple[int, dict[str, str], dict[str, str]]:
    """The 202 answer: (status, headers, JSON body)."""
    headers = {OUTPUT_LOCATION: str(where.output), FAILURE_LOCATION: str(where.failure)}
    return 202, headers, {"InferenceId": request.inference_id}


def _bounded(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(_constraint(name, "be an integer")) from None
    if not low <= value <= high:
        raise RequestError(_constraint(name, f"have value between {low} and {high}"))
    return value


def _constraint(field: str, rule: str) -> str:
    return f"1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must {rule}"
