"""`docker run IMAGE train` as a SageMaker training job runs it, and serving code from S3, in the image.

SageMaker starts the container as `docker run IMAGE train` with /opt/ml mounted and stops it with
SIGTERM, then SIGKILL 120 s later ("Use Your Own Training Algorithms",
https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-dockerfile.html); the
job's settings are in /opt/ml/input/config
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html),
its model is what was written to /opt/ml/model and its failure reason /opt/ml/output/failure
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-output.html).
The native suite (tests/container/training) covers the contract case by case; these prove the image.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
from docker_helpers import ROOT, Container, docker, labels
from moto_s3 import MotoS3, moto_s3, tar_gz

from model_artifacts.train import write_training_csv

pytestmark = pytest.mark.docker
SAMPLE_CODE = ROOT / "model_artifacts" / "code"


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


def lay_out(root: Path, hyperparameters: dict[str, str]) -> Path:
    """/opt/ml as SageMaker mounts it: the config files and the iris rows in the train channel."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"TrainingInputMode": "File"}}))
    resources = {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}
    (config / "resourceconfig.json").write_text(json.dumps(resources))
    write_training_csv(root / "input" / "data" / "train" / "iris.csv")
    return root


def run_args(ml: Path, env: dict[str, str] | None = None, code: Path | None = None) -> list[str]:
    args = ["--network", "host", *labels(), "--user", f"{os.getuid()}:{os.getgid()}", "-v", f"{ml}:/opt/ml"]
    if code is not None:
        args += ["-v", f"{code}:/opt/ml/code:ro"]
    for name, value in (env or {}).items():
        args += ["-e", f"{name}={value}"]
    return args


def test_the_sample_trains_from_an_s3_sourcedir(image: str, s3: MotoS3, tmp_path: Path) -> None:
    # What the SDK sends for Estimator(entry_point="train.py", source_dir=...) on AWS: the code
    # uploaded as sourcedir.tar.gz, every hyperparameter JSON-encoded.
    source = {path.name: path.read_text() for path in SAMPLE_CODE.glob("*.py")}
    uri = s3.put("sagemaker-bucket", "job-1/source/sourcedir.tar.gz", tar_gz(source))
    ml = lay_out(
        tmp_path / "ml",
        {"max_iter": "300", "sagemaker_program": '"train.py"', "sagemaker_submit_directory": json.dumps(uri)},
    )
    result = docker("run", "--rm", *run_args(ml, {**s3.env, "TRAINING_JOB_NAME": "job-1"}), image, "train",
                    timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    model = joblib.load(ml / "model" / "model.joblib")
    assert model.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]).tolist() == [0, 2]
    assert (ml / "output" / "success").exists()
    assert "python train.py --max_iter 300" in result.stderr


def test_a_failing_script_leaves_its_reason(image: str, tmp_path: Path) -> None:
    # Plain-string hyperparameters, as boto3 and console users send them; code mounted at /opt/ml/code.
    ml = lay_out(tmp_path / "ml", {"max_iter": "0", "sagemaker_program": "train.py"})
    result = docker("run", "--rm", *run_args(ml, code=SAMPLE_CODE), image, "train", timeout=300, check=False)
    assert result.returncode == 1
    reason = (ml / "output" / "failure").read_text()
    assert reason.startswith("ValueError: max_iter must be at least 1, not 0 (train.py, line ")
    assert "Traceback (most recent call last)" in result.stderr  # the whole traceback is in the log
    assert not (ml / "model" / "model.joblib").exists()


def test_docker_stop_reaches_the_script(image: str, tmp_path: Path) -> None:
    # StopTrainingJob: SIGTERM to the container, SIGKILL 120 s later.
    script = (
        "import os, signal, sys, time\n"
        "def stop(signum, frame):\n"
        "    open(os.environ['SM_MODEL_DIR'] + '/checkpoint', 'w').write('saved')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "open(os.environ['SM_MODEL_DIR'] + '/started', 'w').close()\n"
        "time.sleep(300)\n"
    )
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(script)
    ml = lay_out(tmp_path / "ml", {"sagemaker_program": "train.py"})
    container_id = docker("run", "-d", *run_args(ml, code=code), image, "train").stdout.strip()
    try:
        deadline = time.monotonic() + 120
        while not (ml / "model" / "started").exists():
            assert time.monotonic() < deadline, docker("logs", container_id).stderr
            time.sleep(0.1)
        docker("stop", "--time", "120", container_id, timeout=180)
        state = json.loads(docker("inspect", "-f", "{{json .State}}", container_id).stdout)
        assert state["ExitCode"] == 0, docker("logs", container_id).stderr  # not 137: no SIGKILL was needed
        assert (ml / "model" / "checkpoint").read_text() == "saved"
    finally:
        docker("rm", "-f", container_id, check=False)


def test_serving_with_code_from_s3(image: str, s3: MotoS3, model_dir: Path) -> None:
    # A real endpoint of SKLearnModel(entry_point="inference.py", source_dir=...): model.tar.gz without
    # code/, SAGEMAKER_SUBMIT_DIRECTORY the S3 URI of sourcedir.tar.gz (sagemaker/model.py,
    # Model._upload_code, _script_mode_env_vars).
    uri = s3.put(
        "sagemaker-bucket",
        "ep/sourcedir.tar.gz",
        tar_gz({"inference.py": (SAMPLE_CODE / "inference.py").read_text()}),
    )
    env = {**s3.env, "SAGEMAKER_SUBMIT_DIRECTORY": uri, "SAGEMAKER_PROGRAM": "inference.py"}
    container = Container(image, model_dir=model_dir, env=env)
    try:
        container.wait_until_ready()
        with container.http() as http:
            response = http.post("/invocations", json={"features": [[5.1, 3.5, 1.4, 0.2]]})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == "setosa"
    finally:
        container.remove()
