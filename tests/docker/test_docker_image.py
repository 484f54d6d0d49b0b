"""The image itself: its metadata, its contents, and its entry with and without `serve`."""

from __future__ import annotations

import json

import pytest
from docker_helpers import docker

pytestmark = pytest.mark.docker

BIND_TO_PORT_LABEL = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
MULTI_MODELS_LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"
VENV_BUDGET_MB = 420  # the virtualenv: numpy, scipy, scikit-learn, xgboost, onnxruntime and the server


def _config(image: str) -> dict:
    return json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image).stdout)


def _sh(image: str, script: str) -> str:
    return docker("run", "--rm", "--network", "host", image, "sh", "-c", script).stdout


def test_labels_and_runtime_settings(image: str) -> None:
    config = _config(image)
    labels = config["Labels"] or {}
    assert labels.get(BIND_TO_PORT_LABEL) == "true"
    # The image backs multi-model endpoints ("Build Your Own Container for SageMaker Multi-Model
    # Endpoints": https://docs.aws.amazon.com/sagemaker/latest/dg/build-multi-model-build-container.html).
    assert labels.get(MULTI_MODELS_LABEL) == "true"
    assert config["Cmd"] == ["serve"]
    assert not config.get("Entrypoint"), "an ENTRYPOINT would swallow SageMaker's `serve` argument"
    assert "8080/tcp" in config["ExposedPorts"]
    assert config.get("User", "") in ("", "root", "0")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"


def test_serve_and_byoc_are_on_path(image: str) -> None:
    out = _sh(image, "for name in serve byoc train python; do command -v $name; done")
    assert out.split() == [
        "/opt/venv/bin/serve",
        "/opt/venv/bin/byoc",
        "/opt/venv/bin/train",
        "/opt/venv/bin/python",
    ]


def test_image_is_small_and_clean(image: str) -> None:
    out = _sh(
        image,
        "du -sm /opt/venv | cut -f1; "
        "for tool in gcc cc g++ make; do command -v $tool || true; done; "
        "ls -d /root/.cache /src /tmp/locks /opt/venv/lib/python3.11/site-packages/sklearn/tests "
        "2>/dev/null || true",
    )
    lines = out.split()
    assert int(lines[0]) < VENV_BUDGET_MB, f"/opt/venv is {lines[0]} MB"
    assert lines[1:] == [], f"compilers, caches or build leftovers in the image: {lines[1:]}"


def test_installed_set_is_consistent_and_pinned(image: str) -> None:
    docker("run", "--rm", "--network", "host", image, "pip", "check")
    frozen = docker("run", "--rm", "--network", "host", image, "pip", "freeze", "--all").stdout
    from docker_helpers import ROOT

    # The default image carries every handler: the runtime's lock and every handler's.
    lock = "".join(
        path.read_text() for path in sorted(ROOT.glob("requirements*.lock")) if "build" not in path.name
    )
    pinned = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1].split()[0]
        for line in lock.splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    installed = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in frozen.splitlines()
        if "==" in line
    }
    for name, version in pinned.items():
        assert installed.get(name) == version, f"{name}: locked {version}, installed {installed.get(name)}"
    assert "setuptools" not in installed, "the build backend is not needed at run time"


def test_serves_without_the_serve_argument(start_container, model_dir) -> None:
    container = start_container(args=(), model_dir=model_dir)
    with container.http() as http:
        response = http.post(
            "/invocations", content=b"5.1,3.5,1.4,0.2\n", headers={"Content-Type": "text/csv"}
        )
    assert response.status_code == 200
    assert response.json()["predictions"] == [0]


def test_train_argument_runs_the_training_contract(image: str) -> None:
    # No /opt/ml/input/config and no entry point: the job fails with a reason, as SageMaker expects
    # (tests/docker/test_docker_training.py trains for real).
    result = docker("run", "--rm", "--network", "host", image, "train", check=False)
    assert result.returncode == 1
    assert "no entry point: set the sagemaker_program hyperparameter" in result.stderr
