"""The SageMaker Runtime API's wire format for InvokeEndpoint, as botocore reads it (rest-json).

Request headers are forwarded to the container under the names SageMaker uses; the container's
answer comes back with the headers the service sets. A container 4xx/5xx becomes ModelError (HTTP
424) with OriginalStatusCode and OriginalMessage; service-side errors are ValidationError (400),
ServiceUnavailable (503) or InternalFailure (500), each a JSON body with `__type` and `Message`
plus the `x-amzn-ErrorType` header botocore looks at first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from container.headers import (
    CUSTOM_ATTRIBUTES,
    ENABLE_EXPLANATIONS,
    INFERENCE_ID,
    INVOKED_PRODUCTION_VARIANT,
    MAX_CUSTOM_ATTRIBUTES_CHARS,
    TARGET_CONTAINER_HOSTNAME,
    TARGET_MODEL,
    TARGET_VARIANT,
)
from deploy.sagemaker_names import DEFAULT_VARIANT

ACCOUNT = "123456789012"
REGION = "local"
VARIANT = DEFAULT_VARIANT
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's Body limit (6 MiB)
MAX_INFERENCE_ID = 64

# Headers of the InvokeEndpoint request that reach the container (SageMaker strips all others).
FORWARDED_REQUEST_HEADERS = (
    "Content-Type",
    "Accept",
    CUSTOM_ATTRIBUTES,
    TARGET_MODEL,
    TARGET_VARIANT,
    TARGET_CONTAINER_HOSTNAME,
    INFERENCE_ID,
    ENABLE_EXPLANATIONS,
)


def _get(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def container_request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers to send to the container: only those InvokeEndpoint forwards, under their names."""
    forwarded = {}
    for name in FORWARDED_REQUEST_HEADERS:
        value = _get(headers, name)
        if value is not None:
            forwarded[name] = value
    return forwarded


def validate_request(headers: Mapping[str, str], body_size: int) -> str | None:
    """The ValidationError message the service would give this request, or None when it is valid."""
    if body_size > MAX_PAYLOAD_BYTES:
        return f"Request payload size ({body_size} bytes) exceeds the limit of {MAX_PAYLOAD_BYTES} bytes."
    attributes = _get(headers, CUSTOM_ATTRIBUTES)
    if attributes is not None and (len(attributes) > MAX_CUSTOM_ATTRIBUTES_CHARS or not attributes.isascii()):
        return (
            "1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_CUSTOM_ATTRIBUTES_CHARS} and be ASCII"
        )
    inference_id = _get(headers, INFERENCE_ID)
    if inference_id is not None and not 1 <= len(inference_id) <= MAX_INFERENCE_ID:
        return (
            "1 validation error detected: Value at 'inferenceId' failed to satisfy constraint: "
            f"Member must have length between 1 and {MAX_INFERENCE_ID}"
        )
    variant = _get(headers, TARGET_VARIANT)
    if variant is not None and variant != VARIANT:
        return f"Variant {variant} not found in endpoint."
    return None


def response_headers(container_headers: Mapping[str, str], variant: str = VARIANT) -> dict[str, str]:
    """The InvokeEndpoint response headers for a container's 2xx answer."""
    headers = {INVOKED_PRODUCTION_VARIANT: variant}
    content_type = _get(container_headers, "Content-Type")
    if content_type is not None:
        headers["Content-Type"] = content_type
    attributes = _get(container_headers, CUSTOM_ATTRIBUTES)
    if attributes is not None:
        headers[CUSTOM_ATTRIBUTES] = attributes
    return headers


def error(code: str, status: int, message: str, **fields: object) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a rest-json error botocore maps to `client.exceptions.<code>`."""
    body = {"__type": code, "Message": message, "message": message, **fields}
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": f"{code}:"}
    return status, headers, json.dumps(body).encode()


def validation_error(message: str) -> tuple[int, dict[str, str], bytes]:
    return error("ValidationError", 400, message)


def endpoint_not_found(name: str) -> tuple[int, dict[str, str], bytes]:
    return validation_error(f"Endpoint {name} of account {ACCOUNT} not found.")


def service_unavailable(message: str) -> tuple[int, dict[str, str], bytes]:
    return error("ServiceUnavailable", 503, message)


def internal_failure(message: str) -> tuple[int, dict[str, str], bytes]:
    return error("InternalFailure", 500, message)


def log_stream_arn(endpoint: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{endpoint}"


def model_error(
    endpoint: str, status: int, body: bytes, *, container: str = "primary", hint: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """ModelError (424) for a container's 4xx/5xx, with its status and body as the service relays them."""
    original = body.decode("utf-8", errors="replace")
    kind = "client" if 400 <= status < 500 else "server"
    message = f'Received {kind} error ({status}) from {container} with message "{original}".'
    if hint:
        message += f" {hint}"
    return error(
        "ModelError",
        424,
        message,
        OriginalStatusCode=status,
        OriginalMessage=original,
        LogStreamArn=log_stream_arn(endpoint),
        ErrorCode="CLIENT_ERROR_FROM_MODEL" if kind == "client" else "SERVER_ERROR_FROM_MODEL",
    )


def model_timeout(endpoint: str, seconds: float, *, hint: str = "") -> tuple[int, dict[str, str], bytes]:
    message = (
        f'Received server error (0) from primary with message "Your invocation timed out while waiting '
        f'for a response from container primary after {seconds:g} seconds.".'
    )
    if hint:
        message += f" {hint}"
    return error(
        "ModelError",
        424,
        message,
        OriginalStatusCode=0,
        OriginalMessage="timeout",
        LogStreamArn=log_stream_arn(endpoint),
        ErrorCode="SERVER_ERROR_FROM_MODEL",
    )
