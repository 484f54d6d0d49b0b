"""Images: this project's and one of sagemaker-inference on multi-model-server, their size and cold start.

Both are built on the same local base (local_test/build_base_image.sh: Debian bookworm's Python 3.11,
since no registry is reachable here): this project's from its Dockerfile, the MMS one from
bench/mms.Dockerfile with the benchmark's MMS versions. Both serve the same model directory,
the seed's model.joblib and its unchanged code/inference.py (for MMS with the `container` shim beside
it), mounted read-only at /opt/ml/model as SageMaker mounts it.

Cold start is the time from `docker run` to the first 200 on /ping, and to the first successful
prediction (MMS answers /ping before its workers have loaded the model), for a container started
ROUNDS times each, alternating, on the host's network with the server bound to 127.0.0.1.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import model, setup_env, stacks
from bench.procs import http
from container.serving.server_process import LOOPBACK, free_port

ROOT = stacks.ROOT
HERE = Path(__file__).resolve().parent
BYOC_TAG = "byoc-toolkit:bench"
MMS_TAG = "byoc-bench-mms:latest"
BUILD_TIMEOUT_S = 1800
READY_TIMEOUT_S = 180
ROUNDS = 3
LABEL = "byoc-bench"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args[:3])} ... failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    return done


def base_image(installer: setup_env.Installer) -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "local_test" / "build_base_image.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not build the base image: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def build(installer: setup_env.Installer, base: str) -> dict[str, str]:
    """Build both images (docker's layer cache makes a rebuild with unchanged inputs quick)."""
    installer.say(f"building {BYOC_TAG} from the Dockerfile on {base}")
    docker(
        "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "-t", BYOC_TAG, str(ROOT),
        timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    packages = " ".join(p for p in setup_env.VENV_SPECS["mms"])
    installer.say(f"building {MMS_TAG} (bench/mms.Dockerfile: {packages}) on {base}")
    docker(
        "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "--build-arg",
        f"PACKAGES={packages}", "-f", str(HERE / "mms.Dockerfile"), "-t", MMS_TAG,
        str(stacks.SERVERS_DIR),
        timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    return {"byoc": BYOC_TAG, "mms": MMS_TAG}


def image_size_mb(tag: str) -> float:
    return round(int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()) / 1e6, 1)


def model_dirs(work: Path, model_file: Path) -> dict[str, Path]:
    """The seed's model and script; the MMS copy with the shim for the script's `container` imports."""
    dirs = {}
    for name, shim in (("byoc", False), ("mms", True)):
        directory = work / f"model-{name}"
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "code").mkdir(parents=True)
        shutil.copy2(model_file, directory / "model.joblib")
        shutil.copy2(stacks.SEED_SCRIPT, directory / "code" / "inference.py")
        if shim:
            shutil.copy2(stacks.CONTAINER_SHIM, directory / "code" / "container.py")
        directory.chmod(0o755)
        dirs[name] = directory
    return dirs


def cold_start(tag: str, model_dir: Path, extra_env: dict[str, str]) -> dict[str, float]:
    """One container from `docker run` to /ping 200 and to the first prediction; removed after."""
    port = free_port(32767)  # MMS parses ports as a Java short
    name = f"{LABEL}-{uuid.uuid4().hex[:10]}"
    env = {"SAGEMAKER_BIND_TO_PORT": str(port), **extra_env}
    argv = ["run", "-d", "--rm", "--name", name, "--label", LABEL, "--network", "host"]
    argv += ["-v", f"{model_dir}:/opt/ml/model:ro"]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    workload = model.WORKLOADS[0]
    body = model.sagemaker_payload(workload)
    base = f"http://{LOOPBACK}:{port}"
    started = time.monotonic()
    docker(*argv, tag, "serve", timeout=60)
    try:
        ping_s = None
        deadline = started + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if ping_s is None and http("GET", base + "/ping", timeout=2)[0] == 200:
                ping_s = time.monotonic() - started
            if ping_s is not None:
                status = http(
                    "POST", base + "/invocations", body, {"Content-Type": workload.content_type}, timeout=10
                )[0]
                if status == 200:
                    return {
                        "ping_s": round(ping_s, 3),
                        "first_prediction_s": round(time.monotonic() - started, 3),
                    }
            time.sleep(0.01)
        logs = docker("logs", name, check=False)
        raise RuntimeError(
            f"{tag} not ready after {READY_TIMEOUT_S} s: {(logs.stdout + logs.stderr)[-2000:]}"
        )
    finally:
        docker("rm", "-f", name, check=False, timeout=60)


def compare(
    work: Path, model_file: Path, installer: setup_env.Installer, say: Callable[[str], None]
) -> dict[str, Any]:
    """Size and cold start of both images; {"error": ...} when Docker cannot build or run them."""
    work.mkdir(parents=True, exist_ok=True)
    try:
        docker("info", timeout=30)
        tags = build(installer, base_image(installer))
        dirs = model_dirs(work, model_file)
        env = {"byoc": {"BYOC_BIND_HOST": LOOPBACK}, "mms": {}}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in tags}
        for round_ in range(ROUNDS):
            for name in tags if round_ % 2 == 0 else reversed(list(tags)):
                run = cold_start(tags[name], dirs[name], env[name])
                runs[name].append(run)
                say(
                    f"   {name} image: /ping 200 after {run['ping_s']} s, first prediction after "
                    f"{run['first_prediction_s']} s"
                )
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        say(f"   images FAILED: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    result: dict[str, Any] = {"rounds": ROUNDS, "images": {}}
    for name, tag in tags.items():
        result["images"][name] = {
            "tag": tag,
            "size_mb": image_size_mb(tag),
            "runs": runs[name],
            "median_ping_s": statistics.median(r["ping_s"] for r in runs[name]),
            "median_first_prediction_s": statistics.median(r["first_prediction_s"] for r in runs[name]),
        }
        say(f"   {name} image {tag}: {result['images'][name]['size_mb']} MB")
    return result
