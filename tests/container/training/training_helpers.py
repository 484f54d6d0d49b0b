"""A SageMaker training job's /opt/ml laid out in a temporary directory, and `train` run on it natively.

`train` reads SAGEMAKER_BASE_DIR instead of /opt/ml (as AWS's training toolkit does), so the same
runtime the image runs is tested here without Docker; tests/docker runs it in the image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 120.0

# A training script that records what it was given: its arguments and the SM_* variables.
PROBE = """
import json, os, sys
record = {
    "argv": sys.argv[1:],
    "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
    "cwd": os.getcwd(),
    "job": os.environ.get("SAGEMAKER_JOB_NAME"),
    "host": os.environ.get("CURRENT_HOST"),
}
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--max_iter", type=int)
parser.add_argument("--solver")
known, _ = parser.parse_known_args()
record["parsed"] = vars(known)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "record.json"), "w") as out:
    json.dump(record, out)
"""


@dataclass
class Job:
    root: Path

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def success(self) -> Path:
        return self.root / "output" / "success"

    def record(self) -> dict:
        return json.loads((self.model_dir / "record.json").read_text())


def lay_out(
    root: Path,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Mapping[str, str]] | None = None,
    resource_config: Mapping | None = None,
) -> Job:
    """/opt/ml/input/config/*.json and input/data/<channel>/<file> as SageMaker writes them."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters)))
    channel_config = {}
    for name, files in (channels or {}).items():
        channel_config[name] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}
        for file_name, text in files.items():
            path = root / "input" / "data" / name / file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    (config / "inputdataconfig.json").write_text(json.dumps(channel_config))
    resources = resource_config or {
        "current_host": "algo-1",
        "hosts": ["algo-1"],
        "network_interface_name": "eth0",
    }
    (config / "resourceconfig.json").write_text(json.dumps(resources))
    return Job(root)


def write_code(directory: Path, files: Mapping[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def train_env(job: Job, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEMAKER_", "SM_", "BYOC_"))}
    return {**env, "SAGEMAKER_BASE_DIR": str(job.root), "TRAINING_JOB_NAME": "test-job", **(extra or {})}


def run_train(job: Job, extra_env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """`train` on `job` to its end: exit status and log."""
    result = subprocess.run(
        [sys.executable, "-m", "container.training.trainer"],
        env=train_env(job, extra_env), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def start_train(job: Job, log: Path, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "container.training.trainer"],
            env=train_env(job, extra_env), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(path: Path, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear in {timeout:g} s")
        time.sleep(0.05)


def stop(process: subprocess.Popen, timeout: float = TIMEOUT) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout)
