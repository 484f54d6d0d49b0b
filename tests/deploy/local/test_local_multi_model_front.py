"""The front of a multi-model endpoint against a fake multi-model container (no Docker).

The fake speaks the container contract ("Custom Containers Contract for Multi-Model Endpoints",
https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html) with room for two models:
a third load is a 507, as a container short of memory answers. The front must then unload the least
recently used idle model and load again, as SageMaker does; with ModelCacheSetting Disabled it
unloads each model after its invocation.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest
from local_helpers import ThreadServer, runtime_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deploy.local.front import Front
from deploy.local.multimodel import (
    CACHE_DISABLED,
    MultiModelRouter,
    TargetModelError,
    check_target,
    model_name,
)
from deploy.local.pool import Instance


class FakeContainer:
    def __init__(self, room: int = 2) -> None:
        self.room = room
        self.loaded: dict[str, str] = {}
        self.calls: list[str] = []

    def app(self) -> Starlette:
        async def ping(request: Request) -> JSONResponse:
            return JSONResponse({})

        async def load(request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append(f"load {body['model_name'][:6]}")
            assert Path(body["url"]).parts[:4] == ("/", "opt", "ml", "models")
            if body["model_name"] in self.loaded:
                return JSONResponse({"code": "model_already_loaded", "message": "loaded"}, 409)
            if len(self.loaded) >= self.room:
                return JSONResponse({"code": "insufficient_memory", "message": "no room"}, 507)
            self.loaded[body["model_name"]] = body["url"]
            return JSONResponse({"status": "loaded"})

        async def unload(request: Request) -> JSONResponse:
            name = request.path_params["name"]
            self.calls.append(f"unload {name[:6]}")
            if self.loaded.pop(name, None) is None:
                return JSONResponse({"code": "model_not_loaded", "message": "not loaded"}, 404)
            return JSONResponse({"status": "unloaded"})

        async def invoke(request: Request) -> JSONResponse:
            name = request.path_params["name"]
            if name not in self.loaded:
                return JSONResponse({"code": "model_not_loaded", "message": "not loaded"}, 404)
            target = request.headers.get("x-amzn-sagemaker-target-model")
            return JSONResponse({"model": name, "target": target}, headers={"X-Model-Latency-Us": "5"})

        return Starlette(
            routes=[
                Route("/ping", ping),
                Route("/models", load, methods=["POST"]),
                Route("/models/{name}", unload, methods=["DELETE"]),
                Route("/models/{name}/invoke", invoke, methods=["POST"]),
            ]
        )


def model_archive(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("model.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    for name in ("a", "b", "c", "sub/d"):
        model_archive(tmp_path / "prefix" / f"{name}.tar.gz", name)
    return tmp_path / "prefix"


def serve(prefix: Path, tmp_path: Path, cache: str = "Enabled") -> Iterator[tuple[str, FakeContainer, Front]]:
    fake = FakeContainer()
    container = ThreadServer(fake.app()).start()
    models = tmp_path / "models"
    models.mkdir()
    front = Front(
        "many",
        "token",
        [Instance(id="fake", url=container.url)],
        multi_model=MultiModelRouter(str(prefix), models, cache),
    )
    server = ThreadServer(front.app()).start()
    try:
        yield server.url, fake, front
    finally:
        server.stop()
        container.stop()


@pytest.fixture
def endpoint(prefix: Path, tmp_path: Path) -> Iterator[tuple[str, FakeContainer, Front]]:
    yield from serve(prefix, tmp_path)


def invoke(url: str, target: str) -> dict:
    answer = runtime_client(url).invoke_endpoint(
        EndpointName="many", ContentType="text/plain", Body=b"x", TargetModel=target
    )
    return json.loads(answer["Body"].read())


def test_first_use_extracts_loads_and_invokes(endpoint, tmp_path: Path) -> None:
    url, fake, _ = endpoint
    answer = invoke(url, "sub/d.tar.gz")
    assert answer == {"model": model_name("sub/d.tar.gz"), "target": "sub/d.tar.gz"}
    extracted = tmp_path / "models" / model_name("sub/d.tar.gz") / "model" / "model.txt"
    assert extracted.read_text() == "sub/d"
    invoke(url, "sub/d.tar.gz")
    assert [c for c in fake.calls if c.startswith("load")] == [f"load {model_name('sub/d.tar.gz')[:6]}"]


def test_a_507_unloads_the_least_recently_used_and_loads_again(endpoint) -> None:
    url, fake, front = endpoint
    for target in ("a.tar.gz", "b.tar.gz", "a.tar.gz", "c.tar.gz"):  # b is the least recently used
        assert invoke(url, target)["target"] == target
    a, b, c = (model_name(t)[:6] for t in ("a.tar.gz", "b.tar.gz", "c.tar.gz"))
    assert fake.calls == [f"load {a}", f"load {b}", f"load {c}", f"unload {b}", f"load {c}"]
    metrics = front.multi_model.snapshot()
    assert metrics["ModelCacheHit"] == 0.25 and metrics["LoadedModelCount"] == 2
    assert metrics["ModelUnloadingTimeSampleCount"] == 1


def test_cache_disabled_unloads_after_each_invocation(prefix: Path, tmp_path: Path) -> None:
    for url, fake, _ in serve(prefix, tmp_path, CACHE_DISABLED):
        invoke(url, "a.tar.gz")
        files = tmp_path / "models" / model_name("a.tar.gz")
        deadline = time.monotonic() + 5
        while (fake.loaded or files.exists()) and time.monotonic() < deadline:
            time.sleep(0.02)  # unloaded, then its files removed, after the answer
        assert fake.loaded == {}
        assert not files.exists()
        invoke(url, "a.tar.gz")  # loaded again


def test_target_model_is_required_and_must_stay_below_the_prefix(endpoint) -> None:
    url, _, _ = endpoint
    client = runtime_client(url)
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        client.invoke_endpoint(EndpointName="many", ContentType="text/plain", Body=b"x")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    for target in ("../a.tar.gz", "/etc/passwd", "nobody.tar.gz"):
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            invoke(url, target)
        assert refused.value.response["Error"]["Code"] == "ValidationError", target
    with pytest.raises(TargetModelError):
        check_target("a\\..\\b.tar.gz")
