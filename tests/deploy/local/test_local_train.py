"""`byoc local train` with the image: the sample's script-mode train.py trains on a local channel, the
job's model.tar.gz serves behind `byoc local up`, and boto3's invoke_endpoint gets predictions; a
failing job prints its failure file and exits 1.

/opt/ml as SageMaker lays it out ("How Amazon SageMaker Provides Training Information",
https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html);
model.tar.gz as SageMaker packs /opt/ml/model
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-output.html).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from local_helpers import LocalCli, runtime_client

from model_artifacts.train import write_training_csv

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.docker
ROOT = HERE.parents[2]
SAMPLE_CODE = ROOT / "model_artifacts" / "code"


def local_train(image: str, data: Path, out: Path, *hyperparameters: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "byoc", "local", "train", "--image", image, "--entry-point", "train.py",
        "--source-dir", str(SAMPLE_CODE), "--channel", f"train={data}", "--output-dir", str(out),
        "--job-name", "iris-local",
    ]  # fmt: skip
    for item in hyperparameters:
        command += ["--hyperparameter", item]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)


def test_local_train_then_local_up_then_predictions(image: str, local_cli: LocalCli, tmp_path: Path) -> None:
    data = write_training_csv(tmp_path / "data" / "iris.csv")
    result = local_train(image, data, tmp_path / "out", "max_iter=300")
    assert result.returncode == 0, result.stdout + result.stderr
    log = result.stdout + result.stderr
    assert "python train.py --max_iter 300" in log and "trained on 150 rows" in log
    model = tmp_path / "out" / "model.tar.gz"
    assert result.stdout.splitlines()[-2] == f"model:  {model}"
    with tarfile.open(model) as archive:
        assert archive.getnames() == ["model.joblib"]
    assert (tmp_path / "out" / "output.tar.gz").is_file()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no leftovers

    url = local_cli.up("trained", image, model)
    answer = runtime_client(url).invoke_endpoint(
        EndpointName="trained", Body=b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n", ContentType="text/csv"
    )
    assert json.loads(answer["Body"].read())["predictions"] == [0, 2]
    local_cli("down", "trained")


def test_a_failing_local_job_prints_its_failure(image: str, tmp_path: Path) -> None:
    data = write_training_csv(tmp_path / "data" / "iris.csv")
    result = local_train(image, data, tmp_path / "out", "max_iter=0")
    assert result.returncode == 1
    assert (
        "byoc local train: algo-1 failed: ValueError: max_iter must be at least 1, not 0 (train.py, line"
        in (result.stderr)
    )
    assert not (tmp_path / "out" / "model.tar.gz").exists()
