"""The image as a multi-model container: the contract's routes and statuses, and a memory limit.

SageMaker starts the image with SAGEMAKER_MULTI_MODEL=true for a multi-model endpoint ("Build Your Own
Container for SageMaker Multi-Model Endpoints",
https://docs.aws.amazon.com/sagemaker/latest/dg/build-multi-model-build-container.html; the toolkit's
src/sagemaker_inference/model_server.py reads it) and puts each model at /opt/ml/models/<name>/model
before POST /models ("Custom Containers Contract for Multi-Model Endpoints",
https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html): 409 for a model already
loaded, 404 for one that is not, 507 when memory is short, so that SageMaker unloads another and
retries.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from docker_helpers import Container
from mme_helpers import code_model, invoke, load, padded_model

pytestmark = pytest.mark.docker

MODELS = "/opt/ml/models"
ROW = json.dumps([[5.1, 3.5, 1.4, 0.2]]).encode()


class MultiModelContainer(Container):
    def all_workers_loaded(self) -> bool:
        return True  # no model at start: /ping 200 is ready


@pytest.fixture(scope="module")
def model_store(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/opt/ml/models as SageMaker lays it out: <name>/model per model."""
    root = tmp_path_factory.mktemp("opt-ml-models")
    shutil.copytree(model_dir, root / "sample" / "model")
    for tag in ("a", "b", "broken"):
        code_model(root / tag / "model", tag)
    return root


@pytest.fixture(scope="module")
def mme(image: str, model_store: Path) -> Iterator[MultiModelContainer]:
    container = MultiModelContainer(
        image,
        mounts={model_store: MODELS},
        env={"SAGEMAKER_MULTI_MODEL": "true", "BYOC_FRONT_WORKERS": "2"},
        workers=2,
    )
    try:
        container.wait_until_ready()
        yield container
    finally:
        container.remove()


def test_the_contract_against_the_image(mme: MultiModelContainer) -> None:
    with mme.http(timeout=120) as http:
        assert http.get("/ping").status_code == 200  # up, with no model loaded
        assert load(http, "sample", f"{MODELS}/sample/model").status_code == 200
        assert load(http, "a", f"{MODELS}/a/model").status_code == 200
        assert load(http, "a", f"{MODELS}/a/model").status_code == 409
        assert load(http, "x", f"{MODELS}/absent/model").status_code == 404
        broken = load(http, "broken", f"{MODELS}/broken/model")
        assert broken.status_code == 500 and broken.json()["code"] == "model_load_failed"

        listed = http.get("/models", params={"limit": "1"}).json()
        assert listed["models"] == [{"modelName": "a", "modelUrl": f"{MODELS}/a/model"}]
        rest = http.get("/models", params={"limit": "1", "next_page_token": listed["nextPageToken"]}).json()
        assert [m["modelName"] for m in rest["models"]] == ["sample"] and "nextPageToken" not in rest
        assert http.get("/models/sample").json()["handler"] == "sklearn"

        predicted = invoke(http, "sample", ROW, **{"Content-Type": "application/json"})
        assert predicted.status_code == 200 and predicted.json()["predictions"] == [0]
        targeted = invoke(http, "a", **{"X-Amzn-SageMaker-Target-Model": "a.tar.gz"})
        assert targeted.json() == {**targeted.json(), "model": "a", "target_model": "a.tar.gz"}
        assert invoke(http, "b").status_code == 404
        assert http.get("/models/b").status_code == 404

        assert http.delete("/models/a").status_code == 200
        assert http.delete("/models/a").status_code == 404
        assert invoke(http, "a").status_code == 404
        assert http.get("/ping").status_code == 200


def test_concurrent_invocations_each_answered_by_its_own_model(mme: MultiModelContainer) -> None:
    with mme.http(timeout=120) as http:
        for tag in ("a", "b"):
            if http.get(f"/models/{tag}").status_code == 404:
                assert load(http, tag, f"{MODELS}/{tag}/model").status_code == 200

        def ask(index: int) -> tuple[str, int, str]:
            tag = "ab"[index % 2]
            answer = invoke(http, tag)
            return tag, answer.status_code, answer.json().get("model")

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(ask, range(200)))
        assert all(status == 200 and asked == answered for asked, status, answered in answers)


def test_a_memory_limited_container_refuses_with_507_and_recovers(
    image: str, trained_model: object, tmp_path: Path
) -> None:
    """docker run --memory: models of 150 MiB until the cgroup's limit (less its headroom) is reached;
    the next load is refused with 507 before it is attempted, the container is never OOM-killed, and
    after an unload the refused model loads."""
    store = tmp_path / "models"
    for index in range(4):
        padded_model(store / f"m{index}" / "model", trained_model, 150)
    container = MultiModelContainer(
        image,
        mounts={store: MODELS},
        env={
            "SAGEMAKER_MULTI_MODEL": "true",
            "BYOC_FRONT_WORKERS": "1",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        },
        docker_args=["--memory", "800m", "--memory-swap", "800m"],
    )
    try:
        container.wait_until_ready()
        with container.http(timeout=120) as http:
            loaded, refused = [], None
            for index in range(4):
                answer = load(http, f"m{index}", f"{MODELS}/m{index}/model")
                if answer.status_code == 507:
                    refused = (f"m{index}", answer.json())
                    break
                assert answer.status_code == 200, answer.text
                loaded.append(f"m{index}")
            assert refused is not None and loaded, f"loaded {loaded} without a 507:\n{container.log_tail()}"
            name, body = refused
            assert body["code"] == "insufficient_memory" and "cgroup" in body["message"]
            assert http.delete(f"/models/{loaded[0]}").status_code == 200
            time.sleep(0.5)
            assert load(http, name, f"{MODELS}/{name}/model").status_code == 200
            answer = invoke(http, name, ROW, **{"Content-Type": "application/json"})
            assert answer.status_code == 200 and answer.json()["predictions"] == [0]
        state = container.state()
        assert state["Running"] and not state["OOMKilled"]
    finally:
        container.remove()
