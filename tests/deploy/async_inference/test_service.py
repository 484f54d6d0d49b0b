"""The async side of a local endpoint: accepted at once, queued beyond the cap, expired past the TTL.

Contracts: InvokeEndpointAsync (202 at once; RequestTTLSeconds: "Maximum age in seconds a request can
be in the queue before it is marked as expired"); AsyncInferenceConfig.ClientConfig
.MaxConcurrentInvocationsPerInstance; the queue metrics of "Monitor asynchronous endpoints".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from async_fixtures import BUCKET, SLOW_CODE
from server_helpers import make_model_dir, serving

from container.serving.server_process import ServerProcess
from deploy.async_inference import requests
from deploy.async_inference.service import AsyncEndpointConfig, AsyncService

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(make_model_dir(tmp_path_factory.mktemp("slow"), None, code=SLOW_CODE)) as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_queued_beyond_the_cap_and_expired_past_the_ttl(slow: ServerProcess, s3: Any) -> None:
    clock = Clock()
    config = AsyncEndpointConfig(f"s3://{BUCKET}/out", f"s3://{BUCKET}/errors", max_concurrent_per_instance=1)
    service = AsyncService(config, instances=lambda: 1, pick=lambda: slow, s3=s3, clock=clock)

    def submit(inference_id: str, seconds: str, ttl: int = 600) -> dict:
        headers = {
            requests.CONTENT_TYPE: "text/plain",
            requests.INFERENCE_ID: inference_id,
            requests.REQUEST_TTL: str(ttl),
        }
        status, answer_headers, body = service.accept(headers, seconds.encode())
        assert status == 202 and body == {"InferenceId": inference_id}
        return answer_headers

    async def scenario() -> dict:
        async with httpx.AsyncClient(trust_env=False) as http:
            loop = asyncio.create_task(service.run(http))
            first = submit("first", "1.5")
            submit("second", "0", ttl=60)
            submit("third", "0")
            await asyncio.sleep(0.5)
            during = service.snapshot()["queue"]
            clock.now += 61  # "second" has now waited past its 60 s TTL; "third" has not
            for _ in range(200):
                if service.queue.processed + service.queue.expired == 3:
                    break
                await asyncio.sleep(0.05)
            loop.cancel()
            await service.stop()
            return {"during": during, "first": first, "after": service.snapshot()}

    result = asyncio.run(scenario())
    assert result["first"][requests.OUTPUT_LOCATION] == f"s3://{BUCKET}/out/first.out"
    during = result["during"]
    assert during["InFlight"] == 1 and during["Waiting"] == 2 and during["ApproximateBacklogSize"] == 3
    after = result["after"]["queue"]
    assert (after["InvocationsProcesssed"], after["ExpiredRequests"], after["ApproximateBacklogSize"]) == (
        2,
        1,
        0,
    )
    assert s3.get_object(Bucket=BUCKET, Key="out/first.out")["Body"].read() == b"slept"
    assert s3.get_object(Bucket=BUCKET, Key="out/third.out")["Body"].read() == b"slept"
    expired = json.loads(s3.get_object(Bucket=BUCKET, Key="errors/second-error.out")["Body"].read())
    assert expired["ErrorCode"] == "ExpiredRequest"
    # The expiry is noticed while "first" still runs: a request past its TTL never waits for room.
    statuses = [item["status"] for item in result["after"]["latest"]]
    assert statuses == ["ExpiredRequest", "Completed", "Completed"]


def test_a_bad_request_is_refused_before_it_is_queued(s3: Any, tmp_path: Path) -> None:
    service = AsyncService(
        AsyncEndpointConfig(f"s3://{BUCKET}/out"), instances=lambda: 1, pick=lambda: None, s3=s3
    )
    with pytest.raises(requests.RequestError, match="requestTTLSeconds"):
        service.accept({requests.INPUT_LOCATION: f"s3://{BUCKET}/x", requests.REQUEST_TTL: "5"}, b"")
    assert service.snapshot()["queue"]["ApproximateBacklogSize"] == 0
