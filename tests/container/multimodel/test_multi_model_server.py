"""Multi-model mode served natively: every /models route and status, per-model code, concurrency, memory.

The contract is SageMaker's for multi-model containers, "Custom Containers Contract for Multi-Model
Endpoints" (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html): POST /models
loads ({"model_name", "url"}; 409 when loaded, 507 when memory is short), GET /models lists (with
next_page_token / nextPageToken pages), GET /models/{name} describes, POST /models/{name}/invoke
predicts, DELETE /models/{name} unloads (404 for a model not loaded). SAGEMAKER_MULTI_MODEL=true is
how SageMaker says so (sagemaker-inference-toolkit, src/sagemaker_inference/model_server.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from mme_helpers import code_model, invoke, load, padded_model
from server_helpers import LEAK, START_TIMEOUT

from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration
MME = {"SAGEMAKER_MULTI_MODEL": "true", "BYOC_FRONT_WORKERS": "2"}


def start(tmp_path: Path, **env: str) -> ServerProcess:
    server = ServerProcess(tmp_path / "unused", env={**MME, **env}, workers=1)
    server.start()
    try:
        server.wait_until_ready(START_TIMEOUT)
    except BaseException:
        server.close()
        raise
    return server


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for tag in ("a", "b", "c", "d", "broken", "hungry"):
        code_model(root / tag / "model", tag)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start(tmp_path_factory.mktemp("server"), SAGEMAKER_MODEL_SERVER_WORKERS="2")
    yield process
    process.close()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
        yield client
        # Each test leaves no model behind: unload whatever it loaded.
        for model in client.get("/models").json()["models"]:
            client.delete(f"/models/{model['modelName']}")


def test_ping_answers_200_with_and_without_models(http: httpx.Client, models: Path) -> None:
    assert http.get("/ping").status_code == 200
    assert load(http, "a", str(models / "a" / "model")).status_code == 200
    assert http.get("/ping").status_code == 200


def test_every_route_and_status(http: httpx.Client, models: Path) -> None:
    url = str(models / "a" / "model")
    loaded = load(http, "a", url)
    assert loaded.status_code == 200, loaded.text
    again = load(http, "a", url)
    assert again.status_code == 409 and again.json()["code"] == "model_already_loaded"

    described = http.get("/models/a")
    assert described.status_code == 200
    assert described.json()["modelName"] == "a" and described.json()["modelUrl"] == url
    assert http.get("/models").json() == {"models": [{"modelName": "a", "modelUrl": url}]}

    answer = invoke(http, "a")
    assert answer.status_code == 200 and answer.json()["model"] == "a"

    for response in (invoke(http, "zz"), http.get("/models/zz"), http.delete("/models/zz")):
        assert response.status_code == 404 and response.json()["code"] == "model_not_loaded", response.text

    assert http.delete("/models/a").status_code == 200
    assert invoke(http, "a").status_code == 404
    assert http.get("/models").json() == {"models": []}


def test_bad_load_requests_are_4xx_saying_what_is_wrong(http: httpx.Client, tmp_path: Path) -> None:
    missing = http.post("/models", json={"model_name": "x"})
    assert missing.status_code == 400 and "url" in missing.json()["message"]
    not_json = http.post("/models", content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_model_request"
    nowhere = load(http, "x", str(tmp_path / "absent"))
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "model_url_not_found"
    relative = load(http, "x", "../etc")
    assert relative.status_code == 400
    for response in (missing, not_json, nowhere, relative):
        assert not LEAK.search(response.text.replace(str(tmp_path), "")), response.text


def test_a_model_that_fails_to_load_is_not_a_memory_refusal(http: httpx.Client, models: Path) -> None:
    broken = load(http, "broken", str(models / "broken" / "model"))
    assert broken.status_code == 500
    assert broken.json()["code"] == "model_load_failed"
    assert "model_fn raised ValueError" in broken.json()["message"]
    hungry = load(http, "hungry", str(models / "hungry" / "model"))
    assert hungry.status_code == 507 and hungry.json()["code"] == "insufficient_memory"
    assert http.get("/models").json() == {"models": []}
    # Neither left anything behind: the names can be loaded again once fixed.
    assert http.get("/models/broken").status_code == 404


def test_pages_of_models_follow_next_page_token(http: httpx.Client, models: Path) -> None:
    for tag in ("a", "b", "c"):
        assert load(http, tag, str(models / tag / "model")).status_code == 200
    seen, token, pages = [], None, 0
    while True:
        query = {"limit": "2", **({"next_page_token": token} if token else {})}
        page = http.get("/models", params=query).json()
        pages += 1
        seen += [model["modelName"] for model in page["models"]]
        token = page.get("nextPageToken")
        if token is None:
            break
    assert seen == ["a", "b", "c"] and pages == 2
    assert http.get("/models", params={"limit": "0"}).status_code == 400
    assert http.get("/models", params={"next_page_token": "bogus"}).status_code == 400


def test_target_model_header_reaches_the_handler(http: httpx.Client, models: Path) -> None:
    assert load(http, "a", str(models / "a" / "model")).status_code == 200
    answer = invoke(http, "a", **{"X-Amzn-SageMaker-Target-Model": "customers/a.tar.gz"})
    assert answer.json()["target_model"] == "customers/a.tar.gz"


def test_models_with_the_same_module_names_keep_their_own_code(http: httpx.Client, models: Path) -> None:
    """Every model's code/inference.py imports its own helper.py: four models, four answers."""
    tags = ["a", "b", "c", "d"]
    for tag in tags:
        assert load(http, tag, str(models / tag / "model")).status_code == 200

    def ask(index: int) -> tuple[str, str]:
        tag = tags[index % len(tags)]
        response = invoke(http, tag, body=str(index).encode())
        assert response.status_code == 200, response.text
        return tag, response.json()["model"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(ask, range(400)))
    assert all(asked == answered for asked, answered in answers)
    pids = {tag: {invoke(http, tag).json()["pid"] for _ in range(6)} for tag in tags}
    assert all(not (pids[x] & pids[y]) for x in tags for y in tags if x != y), pids


def test_a_model_is_loaded_once_and_shared_by_its_workers(
    http: httpx.Client, tmp_path: Path, trained_model: object
) -> None:
    """The scikit-learn handler allows loading before the fork: a model carrying 64 MiB is loaded by
    its own process and shared by both workers, whose own pages stay far below a copy."""
    model = padded_model(tmp_path / "shared" / "model", trained_model, 64)
    assert load(http, "shared", str(model)).status_code == 200
    for _ in range(4):
        assert invoke(http, "shared", b"5.1,3.5,1.4,0.2", **{"Content-Type": "text/csv"}).status_code == 200
    deadline = time.monotonic() + 60  # the workers are forked one after the other
    while True:
        described = http.get("/models/shared").json()
        processes = described["memory"]["processes"]
        if len(processes) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert described["sharedByWorkers"] is True and described["handler"] == "sklearn"
    assert sorted(p["role"] for p in processes) == ["model", "worker", "worker"]
    assert described["memory"]["measuredAtLoad"]["ussBytes"] > 64 * 2**20
    for worker in (p for p in processes if p["role"] == "worker"):
        assert worker["ussBytes"] < 32 * 2**20, worker  # not a copy of the model
        assert worker["rssBytes"] > 64 * 2**20  # but it maps it


def test_metrics_carry_the_model_label(http: httpx.Client, models: Path) -> None:
    assert load(http, "metered", str(models / "b" / "model")).status_code == 200
    for _ in range(3):
        assert invoke(http, "metered").status_code == 200
    invoke(http, "never-loaded")
    text = http.get("/metrics").text
    assert 'byoc_invocations_total{model="metered"} 3.0' in text
    assert 'byoc_model_cache_hits_total{model="metered"} 3.0' in text
    assert 'byoc_model_cache_misses_total{model="never-loaded"} 1.0' in text
    assert 'byoc_model_loading_seconds_count{model="metered"} 1.0' in text
    assert "byoc_loaded_models 1.0" in text


def test_invocations_route_says_where_predictions_go(http: httpx.Client) -> None:
    answer = http.post("/invocations", content=b"1", headers={"Content-Type": "text/csv"})
    assert answer.status_code == 400 and answer.json()["code"] == "multi_model_mode"


def test_memory_fills_up_to_507_and_recovers_through_unloads(tmp_path: Path, trained_model: object) -> None:
    """A budget (BYOC_MEMORY_LIMIT_MB) with room for one 400 MiB model: the second is refused with 507
    before it is attempted, and loads once the first is unloaded.

    The server itself (front, manager) takes 60 to 460 MiB of the 1100 for this to hold: a 400 MiB
    file is estimated at 600 MiB and more before its first load.
    """
    first = padded_model(tmp_path / "one" / "model", trained_model, 400)
    second = padded_model(tmp_path / "two" / "model", trained_model, 400)
    limits = {"BYOC_MEMORY_LIMIT_MB": "1100", "BYOC_MEMORY_HEADROOM_MB": "0", "BYOC_FRONT_WORKERS": "1"}
    server = start(tmp_path, **limits)
    try:
        with httpx.Client(base_url=server.url, timeout=120, trust_env=False) as http:
            assert load(http, "one", str(first)).status_code == 200
            refused = load(http, "two", str(second))
            assert refused.status_code == 507, f"{refused.text}\n{server.log_tail(30)}"
            body = refused.json()
            assert body["code"] == "insufficient_memory" and "unload a model first" in body["message"]
            assert body["neededBytes"] > body["freeBytes"]
            assert http.get("/models/two").status_code == 404
            assert http.delete("/models/one").status_code == 200
            assert load(http, "two", str(second)).status_code == 200
            rows = json.dumps([[5.1, 3.5, 1.4, 0.2]]).encode()
            answer = invoke(http, "two", body=rows, **{"Content-Type": "application/json"})
            assert answer.status_code == 200 and answer.json()["predictions"] == [0]
    finally:
        server.close()


def probe_wheel(directory: Path, version: str) -> Path:
    """A tiny wheel, byoc_mme_probe at `version`, whose module says which version it is."""
    import zipfile

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"byoc_mme_probe-{version}-py3-none-any.whl"
    info = f"byoc_mme_probe-{version}.dist-info"
    files = {
        "byoc_mme_probe/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: byoc-mme-probe\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def test_each_model_gets_its_own_requirements(http: httpx.Client, tmp_path: Path) -> None:
    """Two models pin two versions of one package in code/requirements.txt: each sees its own, and
    the server's environment gets neither."""
    import importlib.util

    for version in ("1.0", "2.0"):
        model = tmp_path / f"v{version}" / "model"
        code = model / "code"
        code.mkdir(parents=True)
        (code / "requirements.txt").write_text(f"{probe_wheel(tmp_path / 'wheels', version)}\n")
        (code / "inference.py").write_text(
            "import byoc_mme_probe\n\n\ndef model_fn(model_dir):\n    return byoc_mme_probe.VERSION\n\n\n"
            "def input_fn(data, content_type):\n    return data\n\n\n"
            "def predict_fn(data, model):\n    return model\n\n\n"
            "def output_fn(prediction, accept):\n    return prediction, 'text/plain'\n"
        )
        loaded = load(http, f"probe-{version}", str(model))
        assert loaded.status_code == 200, loaded.text
    for version in ("1.0", "2.0"):
        assert invoke(http, f"probe-{version}").text == version
    assert importlib.util.find_spec("byoc_mme_probe") is None


def test_sigterm_stops_every_model_process(tmp_path: Path, models: Path) -> None:
    from container.multimodel import memory

    server = start(tmp_path, BYOC_FRONT_WORKERS="1")
    try:
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http:
            for tag in ("a", "b"):
                assert load(http, tag, str(models / tag / "model")).status_code == 200
        assert server.process is not None
        processes = memory.descendants(server.process.pid)
        assert len(processes) >= 1 + 1 + 1 + 2 * 2  # server, front worker, manager, two models and workers
        assert server.stop() == 0
        deadline = time.monotonic() + 10
        while any(memory.process_memory(pid).rss for pid in processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in processes if memory.process_memory(pid).rss], (
            "processes outlived the server"
        )
    finally:
        server.close()


def test_each_model_has_its_manifest_checked(
    http: httpx.Client, tmp_path: Path, trained_model: object
) -> None:
    """A model whose manifest names another scikit-learn minor version fails to load with the reason,
    while the same model without the manifest loads: the check is per model, as in single-model mode."""
    import joblib

    from container.archives import manifest

    for name, stale in (("fresh", False), ("stale", True)):
        model = tmp_path / name / "model"
        model.mkdir(parents=True)
        joblib.dump(trained_model, model / "model.joblib")
        if stale:
            saved = {"format": manifest.FORMAT_VERSION, "handler": "sklearn", "strict": ["scikit-learn"]}
            saved["versions"] = {"scikit-learn": "0.1.0"}
            (model / manifest.FILENAME).write_bytes(manifest.dumps(saved))
    assert load(http, "fresh", str(tmp_path / "fresh" / "model")).status_code == 200
    stale = load(http, "stale", str(tmp_path / "stale" / "model"))
    assert stale.status_code == 500 and stale.json()["code"] == "model_load_failed"
    assert "scikit-learn: the model was saved with 0.1.0" in stale.json()["message"]
