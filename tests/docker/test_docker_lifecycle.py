"""The image's life as SageMaker and a user drive it: custom code, SIGTERM, a baked model, the
local_test scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from docker_helpers import LABEL, LOCAL_TEST, PAYLOADS, SESSION, docker, extract_in_image, labels
from docker_helpers import free_port as free_loopback_port

pytestmark = pytest.mark.docker

SLOW_SECONDS = 3
SIGKILL_AFTER_SECONDS = 30  # SageMaker's window between SIGTERM and SIGKILL

SLOW_INFERENCE = f"""
import time

from handlers.sklearn import predict_fn as sklearn_predict_fn


def predict_fn(data, model):
    print("slow predict_fn: in flight", flush=True)
    time.sleep({SLOW_SECONDS})
    return sklearn_predict_fn(data, model)
"""


def test_custom_inference_script_in_the_archive(
    start_container, image, custom_model_archive, tmp_path
) -> None:
    model_dir = extract_in_image(image, custom_model_archive, tmp_path)
    assert (model_dir / "code" / "inference.py").is_file()
    container = start_container(model_dir=model_dir)
    with container.http() as http:
        response = http.post(
            "/invocations",
            content=(PAYLOADS / "features.json").read_bytes(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert [row["label"] for row in response.json()["predictions"]] == ["setosa", "virginica"]


def test_sigterm_finishes_the_request_in_flight_and_exits_0(start_container, model_dir, tmp_path) -> None:
    slow_model = tmp_path / "model"
    shutil.copytree(model_dir, slow_model)
    (slow_model / "code").mkdir()
    (slow_model / "code" / "inference.py").write_text(SLOW_INFERENCE)
    container = start_container(model_dir=slow_model)

    result: dict[str, httpx.Response | BaseException] = {}

    def call() -> None:
        try:
            with container.http(timeout=60) as http:
                result["response"] = http.post(
                    "/invocations", content=b"5.1,3.5,1.4,0.2\n", headers={"Content-Type": "text/csv"}
                )
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    request = threading.Thread(target=call, daemon=True)
    request.start()
    deadline = time.monotonic() + 30
    while "in flight" not in container.logs()[0]:
        assert time.monotonic() < deadline, f"the request never reached predict_fn:\n{container.log_tail()}"
        assert request.is_alive(), f"the request ended early: {result}"
        time.sleep(0.05)

    elapsed = container.stop(timeout=SIGKILL_AFTER_SECONDS)
    request.join(timeout=30)

    assert "error" not in result, f"the request in flight failed: {result['error']!r}"
    response = result["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [0]
    state = container.state()
    assert state["ExitCode"] == 0, container.log_tail()
    assert not state["OOMKilled"]
    assert elapsed < SIGKILL_AFTER_SECONDS, f"docker stop took {elapsed:.1f} s: SageMaker would SIGKILL"


@pytest.fixture(scope="module")
def baked_image(image: str, model_archive: Path) -> str:
    tag = f"byoc-toolkit:test-baked-{SESSION}"
    result = subprocess.run(
        ["bash", str(LOCAL_TEST / "bake_model.sh"), image, str(model_archive), tag],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    yield tag
    docker("rmi", tag, check=False)


def test_baked_model_serves_with_no_mount(start_container, baked_image: str) -> None:
    listing = docker("run", "--rm", "--network", "host", baked_image, "ls", "-A", "/opt/ml/model", "/tmp")
    baked = listing.stdout.split("\n\n")[0].split()
    assert baked[0] == "/opt/ml/model:"
    assert "model.joblib" in baked[1:], listing.stdout
    assert "model.tar.gz" not in listing.stdout, "the archive itself must not ship in the image"
    container = start_container(image=baked_image)  # no -v: the model is in the image
    with container.http() as http:
        response = http.post(
            "/invocations",
            content=(PAYLOADS / "three_rows.csv").read_bytes(),
            headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        )
    assert response.status_code == 200, response.text
    assert [line.split(",")[0] for line in response.text.splitlines()] == ["0", "1", "2"]


def test_serve_local_and_predict_scripts(image: str, model_archive: Path, tmp_path: Path) -> None:
    """The README's local loop: serve_local.sh with a model.tar.gz, predict.sh, docker stop."""
    port = free_loopback_port()
    name = f"{LABEL}-local-{SESSION}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "BYOC_"))},
        "PORT": str(port),
        "NAME": name,
        "WORK_DIR": str(tmp_path / "work"),
        "WAIT_SECONDS": "120",
        # passed through to the container: answers in CSV when the request has no Accept
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    }
    try:
        served = subprocess.run(
            ["bash", str(LOCAL_TEST / "serve_local.sh"), "-d", image, str(model_archive), "--", *labels()],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert served.returncode == 0, served.stdout + served.stderr
        assert f"ready at http://127.0.0.1:{port}" in served.stderr
        assert (tmp_path / "work" / name / "model" / "model.joblib").is_file()

        def predict(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                ["bash", str(LOCAL_TEST / "predict.sh"), *args],
                capture_output=True,
                text=True,
                env={**env, "BYOC_URL": f"http://127.0.0.1:{port}"},
                timeout=120,
                check=False,
            )

        good = predict(str(PAYLOADS / "three_rows.csv"))
        assert good.returncode == 0, good.stdout + good.stderr
        assert "status: 200" in good.stdout
        assert "content-type: text/csv" in good.stdout.lower()
        assert "x-request-id:" in good.stdout
        assert good.stdout.rstrip().splitlines()[-1].startswith("2,")

        bad = predict(str(PAYLOADS / "wrong_width.csv"), "text/csv", "application/json")
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "status: 400" in bad.stdout
        assert '"code":"wrong_feature_count"' in bad.stdout

        docker("stop", "--time", str(30), name, timeout=90)
        state = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert state == "0"
    finally:
        docker("rm", "-f", "-v", name, check=False)
