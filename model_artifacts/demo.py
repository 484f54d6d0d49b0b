"""The quickstart demo (`make demo`): train the sample model, serve it natively, ask it things.

Trains with code/train.py, the sample's script-mode entry point, through `train` (the runtime's
SageMaker training contract, on an /opt/ml laid out under model_artifacts/build/opt_ml), then runs
the real server twice on loopback ports: once with the default scikit-learn handler, once with the
sample custom script (code/inference.py), sends the sample payloads from local_test/payloads, prints
what came back, and stops each server with SIGTERM as SageMaker would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from container.serving.server_process import ServerNotReady, ServerProcess  # noqa: E402
from model_artifacts.train import write_training_csv  # noqa: E402

PAYLOADS = ROOT / "local_test" / "payloads"
REQUESTS = [
    ("one_row.csv", "text/csv", "application/json"),
    ("three_rows.csv", "text/csv", "text/csv"),
    ("one_row.json", "application/json", "application/json"),
    ("instances.json", "application/json", "application/jsonlines"),
    ("wrong_width.csv", "text/csv", "application/json"),
]
CUSTOM_REQUESTS = [
    ("features.json", "application/json", "application/json"),
    ("three_rows.csv", "text/csv", "application/json"),
]


def main() -> int:
    build = HERE / "build"
    default_dir = train_with_the_training_contract(build / "opt_ml")
    if default_dir is None:
        return 1
    custom_dir = build / "model-custom"
    custom_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(default_dir / "model.joblib", custom_dir / "model.joblib")
    shutil.copytree(HERE / "code", custom_dir / "code", dirs_exist_ok=True)
    print(f"trained the sample model into {default_dir}\n")

    ok = serve_and_ask("default scikit-learn handler", default_dir, REQUESTS)
    ok &= serve_and_ask("custom code/inference.py", custom_dir, CUSTOM_REQUESTS)
    return 0 if ok else 1


def train_with_the_training_contract(ml_dir: Path) -> Path | None:
    """Run code/train.py as a SageMaker training job would (`docker run IMAGE train`), natively."""
    shutil.rmtree(ml_dir, ignore_errors=True)
    config = ml_dir / "input" / "config"
    config.mkdir(parents=True)
    write_training_csv(ml_dir / "input" / "data" / "train" / "iris.csv")
    # What the SageMaker Python SDK writes for Estimator(entry_point="train.py", source_dir="code",
    # hyperparameters={"max_iter": 1000}): every value JSON-encoded.
    hyperparameters = {
        "max_iter": "1000",
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(str(HERE / "code")),
    }
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"TrainingInputMode": "File"}}))
    print(f"== training: code/train.py through `train`, SAGEMAKER_BASE_DIR={ml_dir}")
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(ml_dir)}
    result = subprocess.run([sys.executable, "-m", "container.training.trainer"], env=env, check=False)
    if result.returncode != 0:
        print(f"training failed: {(ml_dir / 'output' / 'failure').read_text()}")
        return None
    return ml_dir / "model"


def serve_and_ask(title: str, model_dir: Path, requests: list[tuple[str, str, str]]) -> bool:
    print(f"== {title}: serving {model_dir}")
    with ServerProcess(model_dir) as server:
        try:
            server.wait_until_ready(timeout=120, on_wait=_progress)
        except ServerNotReady as exc:
            print(f"\nthe server did not come up: {exc}")
            return False
        print(f"\r   ready at {server.url}{' ' * 30}" if sys.stdout.isatty() else f"   ready at {server.url}")
        for payload, content_type, accept in requests:
            status, body = post(f"{server.url}/invocations", PAYLOADS / payload, content_type, accept)
            print(f"-- POST /invocations  {payload}  ({content_type} -> {accept}): {status}")
            print("   " + body.strip().replace("\n", "\n   "))
        code = server.stop()
        print(f"== stopped with SIGTERM, exit status {code}\n")
        return code == 0


def post(url: str, payload: Path, content_type: str, accept: str) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=payload.read_bytes(), headers={"Content-Type": content_type, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _progress(elapsed: float, last: str) -> None:
    if sys.stdout.isatty():
        print(f"\r   waiting for /ping ... {elapsed:4.1f} s", end="", flush=True)


if __name__ == "__main__":
    sys.exit(main())
