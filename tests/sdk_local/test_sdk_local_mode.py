"""The SageMaker Python SDK 2.x, unchanged, in local mode against this project's image: the seed's first
example (an Estimator trains with the image's `train`, then deploys what it trained) and its third
(SKLearnModel with entry_point and source_dir).

Local mode runs the container with docker-compose; the compose shim (compose_shim.py) moves it to
host networking on a loopback port, and nothing else. The SDK's behaviour cited: sagemaker/local/
image.py (_SageMakerContainer.train / serve, write_config_files, _update_local_src_path),
sagemaker/estimator.py (_script_mode_hyperparam_update), sagemaker/local/entities.py
(_wait_for_serving_container polls GET /ping on localhost:serving_port).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from docker_helpers import ROOT
from sdk_local_helpers import run_sdk

from container.serving.server_process import free_port
from model_artifacts.train import write_training_csv

pytestmark = pytest.mark.docker
SAMPLE_CODE = ROOT / "model_artifacts" / "code"


def compose_files(environment: dict[str, str]) -> list[dict]:
    return [
        yaml.safe_load(path.read_text())
        for path in sorted(Path(environment["BYOC_TEST_COMPOSE_LOG"]).iterdir())
    ]


def test_estimator_fit_then_deploy_then_predict(
    sdk_python: str, sdk_environment: dict[str, str], sdk_image: str, tmp_path: Path
) -> None:
    train_dir = write_training_csv(tmp_path / "train" / "iris.csv").parent
    result = run_sdk(
        sdk_python,
        sdk_environment,
        "sdk_estimator.py",
        sdk_image,
        str(SAMPLE_CODE),
        str(train_dir),
        str(free_port()),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "Completed"
    assert outcome["answer"]["predictions"] == [0, 2]
    # The container trained with the hyperparameters as the SDK encodes them, and said so.
    assert "python train.py --max_iter 300" in result.stdout + result.stderr
    commands = {
        service["command"]
        for document in compose_files(sdk_environment)
        for service in document["services"].values()
    }
    assert {"train", "serve"} <= commands
    for document in compose_files(sdk_environment):
        assert "networks" not in document
        for service in document["services"].values():
            assert service["network_mode"] == "host" and "ports" not in service and "networks" not in service


def test_sklearn_model_with_entry_point_and_source_dir(
    sdk_python: str, sdk_environment: dict[str, str], sdk_image: str, model_archive: Path
) -> None:
    result = run_sdk(
        sdk_python,
        sdk_environment,
        "sdk_sklearn_model.py",
        sdk_image,
        str(model_archive),
        str(SAMPLE_CODE),
        str(free_port()),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])["answer"]
    # model_artifacts/code/inference.py's answer, not the default handler's.
    assert [row["label"] for row in answer["predictions"]] == ["setosa", "virginica"]
