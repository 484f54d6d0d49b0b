"""The front against fake containers on loopback, and a real botocore client against the front.

No Docker: a fake container is a small Starlette app with /ping and /invocations that echoes what
it received, so the header mapping, the error path through botocore, round-robin, retry and the
blue/green swap are tested on their own, fast.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from local_helpers import ThreadServer, runtime_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deploy.local.front import Front
from deploy.local.front_api import TOKEN_HEADER
from deploy.local.pool import Instance


def fake_container(label: str, *, delay: float = 0.0) -> Starlette:
    async def ping(request: Request) -> Response:
        return Response(status_code=200)

    async def invocations(request: Request) -> Response:
        body = await request.body()
        headers = {"X-Model-Latency-Us": "1000", "X-Overhead-Latency-Us": "100"}  # as the runtime sets
        if delay:
            import asyncio

            await asyncio.sleep(delay)
        if body.startswith(b"fail:"):
            status = int(body.split(b":")[1])
            return Response(
                json.dumps({"code": "bad", "message": f"failed with {status}"}),
                status_code=status,
                media_type="application/json",
                headers=headers,
            )
        echoed = {
            "instance": label,
            "body": body.decode(),
            "headers": {
                k: v for k, v in request.headers.items() if k.startswith(("x-amzn", "content", "accept"))
            },
        }
        attributes = request.headers.get("x-amzn-sagemaker-custom-attributes")
        if attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = f"echo:{attributes}"
        return Response(json.dumps(echoed), media_type="application/json", headers=headers)

    return Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])


class Setup:
    def __init__(self, count: int = 2, delay: float = 0.0) -> None:
        self.containers = [ThreadServer(fake_container(f"c{i}", delay=delay)).start() for i in range(count)]
        self.front = Front(
            "ep",
            "secret",
            [Instance(id=f"c{i}", url=server.url) for i, server in enumerate(self.containers)],
            health_interval=0.2,
        )
        self.server = ThreadServer(self.front.app()).start()
        self.url = self.server.url
        self.client = runtime_client(self.url)

    def stop(self) -> None:
        self.server.stop()
        for container in self.containers:
            container.stop()


@pytest.fixture
def setup() -> Iterator[Setup]:
    running = Setup()
    yield running
    running.stop()


def invoke(setup: Setup, body: str = "1,2", **kwargs) -> dict:
    response = setup.client.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body=body, **kwargs)
    response["document"] = json.loads(response["Body"].read())
    return response


def test_boto3_invoke_endpoint_maps_every_header(setup: Setup) -> None:
    response = invoke(
        setup,
        Accept="application/json",
        CustomAttributes="trace=1",
        InferenceId="inf-1",
        TargetModel="m.tar.gz",
        TargetVariant="AllTraffic",
    )
    sent = response["document"]["headers"]
    assert response["document"]["body"] == "1,2"
    assert sent["content-type"] == "text/csv"
    assert sent["accept"] == "application/json"
    assert sent["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    assert sent["x-amzn-sagemaker-inference-id"] == "inf-1"
    assert sent["x-amzn-sagemaker-target-model"] == "m.tar.gz"
    assert "authorization" not in sent
    assert response["ContentType"] == "application/json"
    assert response["CustomAttributes"] == "echo:trace=1"
    assert response["InvokedProductionVariant"] == "AllTraffic"


@pytest.mark.parametrize("status", [400, 415, 500, 503])
def test_container_errors_arrive_as_botocore_model_error(setup: Setup, status: int) -> None:
    with pytest.raises(setup.client.exceptions.ModelError) as caught:
        invoke(setup, body=f"fail:{status}")
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == status
    assert json.loads(error["OriginalMessage"]) == {"code": "bad", "message": f"failed with {status}"}
    assert error["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/ep")
    assert f"error ({status}) from primary" in error["Error"]["Message"]


def test_unknown_endpoint_and_bad_variant_are_validation_errors(setup: Setup) -> None:
    with pytest.raises(setup.client.exceptions.ValidationError, match="Endpoint other of account"):
        setup.client.invoke_endpoint(EndpointName="other", ContentType="text/csv", Body="1")
    with pytest.raises(setup.client.exceptions.ValidationError, match="Variant Blue"):
        invoke(setup, TargetVariant="Blue")


def test_round_robin_and_metrics(setup: Setup) -> None:
    seen = [invoke(setup)["document"]["instance"] for _ in range(6)]
    assert seen.count("c0") == 3 and seen.count("c1") == 3
    with pytest.raises(setup.client.exceptions.ModelError):
        invoke(setup, body="fail:400")
    with pytest.raises(setup.client.exceptions.ModelError):
        invoke(setup, body="fail:500")
    metrics = httpx.get(f"{setup.url}/_byoc/metrics", trust_env=False).json()["metrics"]
    assert metrics["Invocations"] == 8
    assert metrics["Invocation4XXErrors"] == 1
    assert metrics["Invocation5XXErrors"] == 1
    assert metrics["ModelLatency"] == 1000
    assert metrics["OverheadLatency"] >= 100


def test_a_dead_instance_fails_no_request(setup: Setup) -> None:
    setup.containers[0].stop()
    answers = [invoke(setup)["document"]["instance"] for _ in range(10)]  # the first may retry
    assert set(answers) == {"c1"}
    status = httpx.get(f"{setup.url}/_byoc/status", trust_env=False).json()
    assert status["healthy"] == 1
    assert [i["healthy"] for i in status["instances"]] == [False, True]


def test_no_healthy_instance_is_service_unavailable(setup: Setup) -> None:
    for container in setup.containers:
        container.stop()
    with pytest.raises(setup.client.exceptions.ServiceUnavailable):
        invoke(setup)


def test_swap_needs_the_token_and_healthy_instances(setup: Setup) -> None:
    refused = httpx.post(f"{setup.url}/_byoc/instances", json={"instances": []}, trust_env=False)
    assert refused.status_code == 403
    dead = httpx.post(
        f"{setup.url}/_byoc/instances",
        headers={TOKEN_HEADER: "secret"},
        json={"instances": [{"id": "x", "url": "http://127.0.0.1:1"}]},
        trust_env=False,
    )
    assert dead.status_code == 409
    assert invoke(setup)["document"]["instance"] in {"c0", "c1"}


def test_blue_green_swap_under_load_fails_no_request() -> None:
    running = Setup(delay=0.05)
    green = ThreadServer(fake_container("green")).start()
    failures: list[str] = []
    answers: list[str] = []
    stop = threading.Event()

    def load() -> None:
        client = runtime_client(running.url)
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline and len(answers) < 2000:
            try:
                response = client.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body="1")
                answers.append(json.loads(response["Body"].read())["instance"])
            except Exception as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        swapped = httpx.post(
            f"{running.url}/_byoc/instances",
            headers={TOKEN_HEADER: "secret"},
            json={"instances": [{"id": "green", "url": green.url}], "drain_timeout": 10},
            trust_env=False,
            timeout=30,
        )
        assert swapped.status_code == 200, swapped.text
        assert swapped.json() == {"retired": ["c0", "c1"], "drained": True, "in_flight": 0}
        for container in running.containers:  # what `byoc local update` does next
            container.stop()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        running.stop()
        green.stop()
    assert failures == []
    assert answers[-1] == "green"
    assert {"c0", "c1"} <= set(answers[:5])


def test_a_front_whose_state_file_is_gone_stops_itself(tmp_path) -> None:
    state = tmp_path / "ep.json"
    state.write_text("{}")
    stopped = threading.Event()
    front = Front("ep", "secret", [], health_interval=0.05, state_path=state)
    front.on_orphaned = stopped.set
    server = ThreadServer(front.app()).start()
    try:
        time.sleep(0.2)
        assert not stopped.is_set()
        state.unlink()
        assert stopped.wait(5)
    finally:
        server.stop()
