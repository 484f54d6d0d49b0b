"""One asynchronous request, processed: its payload from S3 (or inline), the container, its result to S3.

As SageMaker processes an InvokeEndpointAsync request ("How it works",
https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html): the payload is read from
InputLocation and POSTed to a container's /invocations like any request; the answer is stored at
OutputLocation, or, when the request fails, an error at FailureLocation. S3 is reached with boto3's
standard configuration (credentials, region, AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3), so a local
endpoint works against moto or any S3-compatible store as it does against AWS.

The payload and the answer pass through temporary files, never whole in memory: an async payload
may be up to 1 GB.

What the failure object holds (AWS does not document it): JSON with the fields InvokeEndpoint's
ModelError carries for a container's error (ErrorCode, OriginalStatusCode, OriginalMessage,
Message), or, when the container never answered, ErrorCode and Message alone: ExpiredRequest
(RequestTTLSeconds passed in the queue), InvocationTimeout (InvocationTimeoutSeconds passed),
RequestDownloadFailure (the input could not be read), ResponseUploadFailure (the answer could not
be written), ContainerUnreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from deploy.async_inference import requests
from deploy.async_inference.locations import S3Uri, parse_s3_uri
from deploy.async_inference.requests import AsyncRequest, Locations

log = logging.getLogger("byoc.local.async")

MAX_PAYLOAD_BYTES = 1024 * 1024 * 1024  # "payloads up to 1GB"
CHUNK_BYTES = 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    ok: bool
    location: S3Uri  # where the result (or error) object was written
    code: str  # "Completed", or the ErrorCode of the failure object
    seconds: float


def s3_client() -> Any:
    """boto3's S3 client from the standard environment (AWS_ENDPOINT_URL_S3 included)."""
    import boto3

    return boto3.client("s3")


async def process(
    request: AsyncRequest,
    where: Locations,
    url: str,
    http: httpx.AsyncClient,
    s3: Any,
    *,
    received: float,
) -> Outcome:
    """Run the request on the container at `url`; write its result or its error; say which."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="byoc-async-") as work:
        payload = Path(work) / "payload"
        answer = Path(work) / "answer"
        try:
            await _fetch_payload(request, s3, payload)
        except Exception as exc:  # any reason the input cannot be read is this request's failure
            return await _fail(
                where, s3, "RequestDownloadFailure", f"the input could not be read: {exc}", started
            )
        try:
            status, content_type = await _invoke(request, url, http, payload, answer)
        except httpx.TimeoutException:
            limit = request.invocation_timeout_seconds
            message = f"the container did not answer within InvocationTimeoutSeconds={limit}"
            return await _fail(where, s3, "InvocationTimeout", message, started)
        except httpx.HTTPError as exc:
            return await _fail(
                where, s3, "ContainerUnreachable", f"the request to the container failed: {exc!r}", started
            )
        if status >= 400:
            body = answer.read_bytes()[:MAX_ERROR_BYTES]
            return await _write_error(where, s3, _model_error(status, body), "ModelError", started)
        try:
            await asyncio.to_thread(_upload, s3, answer, where.output, content_type)
        except Exception as exc:
            message = f"the answer could not be written to {where.output}: {exc}"
            return await _fail(where, s3, "ResponseUploadFailure", message, started)
        return Outcome(True, where.output, "Completed", time.monotonic() - started)


async def expire(request: AsyncRequest, where: Locations, s3: Any, waited: float) -> Outcome:
    """A request that waited longer than its RequestTTLSeconds: not processed, its error written."""
    message = (
        f"the request waited {waited:.0f} s in the queue, "
        f"longer than its RequestTTLSeconds={request.ttl_seconds}"
    )
    return await _fail(where, s3, "ExpiredRequest", message, time.monotonic())


async def _fetch_payload(request: AsyncRequest, s3: Any, destination: Path) -> None:
    if request.inline_body is not None:
        destination.write_bytes(request.inline_body)
        return
    assert request.input_location is not None
    source = parse_s3_uri(request.input_location, "InputLocation")
    head = await asyncio.to_thread(s3.head_object, Bucket=source.bucket, Key=source.key)
    size = int(head.get("ContentLength", 0))
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{request.input_location} is {size} bytes; asynchronous payloads are at most 1 GB")
    await asyncio.to_thread(s3.download_file, source.bucket, source.key, str(destination))


async def _invoke(
    request: AsyncRequest, url: str, http: httpx.AsyncClient, payload: Path, answer: Path
) -> tuple[int, str | None]:
    headers = requests.container_headers(request)
    headers["Content-Length"] = str(payload.stat().st_size)
    timeout = httpx.Timeout(float(request.invocation_timeout_seconds), connect=10.0)
    async with http.stream(
        "POST", f"{url}/invocations", content=_read(payload), headers=headers, timeout=timeout
    ) as response:
        with answer.open("wb") as file:
            async for chunk in response.aiter_bytes():
                file.write(chunk)
        return response.status_code, response.headers.get("content-type")


async def _read(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def _model_error(status: int, body: bytes) -> dict[str, Any]:
    """The failure object for a container's error: InvokeEndpoint's ModelError fields."""
    original = body.decode("utf-8", errors="replace")
    kind = "client" if status < 500 else "server"
    return {
        "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if kind == "client" else "SERVER_ERROR_FROM_MODEL",
        "OriginalStatusCode": status,
        "OriginalMessage": original,
        "Message": f'Received {kind} error ({status}) from primary with message "{original}".',
    }


async def _fail(where: Locations, s3: Any, code: str, message: str, started: float) -> Outcome:
    return await _write_error(where, s3, {"ErrorCode": code, "Message": message}, code, started)


async def _write_error(where: Locations, s3: Any, document: dict, code: str, started: float) -> Outcome:
    body = json.dumps(document).encode()
    try:
        await asyncio.to_thread(
            s3.put_object,
            Bucket=where.failure.bucket,
            Key=where.failure.key,
            Body=body,
            ContentType="application/json",
        )
    except Exception:
        log.exception("could not write the failure object %s", where.failure)
    return Outcome(False, where.failure, code, time.monotonic() - started)


def _upload(s3: Any, path: Path, where: S3Uri, content_type: str | None) -> None:
    extra = {"ContentType": content_type} if content_type else None
    s3.upload_file(str(path), where.bucket, where.key, ExtraArgs=extra)
