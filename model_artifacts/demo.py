"""The quickstart demo (`make demo`): train the sample model, serve it natively, ask it things.

Runs the real server twice on loopback ports: once with the default scikit-learn handler, once
with the sample custom script (code/inference.py), sends the sample payloads from
local_test/payloads, prints what came back, and stops each server with SIGTERM as SageMaker would.
"""

from __future__ import annotations

import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import joblib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from container.serving.server_process import ServerNotReady, ServerProcess  # noqa: E402
from model_artifacts.train import train  # noqa: E402

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
    default_dir = build / "model"
    custom_dir = build / "model-custom"
    for directory in (default_dir, custom_dir):
        directory.mkdir(parents=True, exist_ok=True)
    model = train()
    joblib.dump(model, default_dir / "model.joblib")
    joblib.dump(model, custom_dir / "model.joblib")
    shutil.copytree(HERE / "code", custom_dir / "code", dirs_exist_ok=True)
    print(f"trained the sample model (iris, {type(model).__name__}) into {build}\n")

    ok = serve_and_ask("default scikit-learn handler", default_dir, REQUESTS)
    ok &= serve_and_ask("custom code/inference.py", custom_dir, CUSTOM_REQUESTS)
    return 0 if ok else 1


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
