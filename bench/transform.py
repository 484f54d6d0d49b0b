"""Batch transform throughput: `byoc local transform` against the SageMaker SDK's local Transformer.

    .venv/bin/python -m bench.transform [--rows 1000000] [--image IMAGE] [--out DIR]

Same run, same image, same model (the sample iris pipeline), same CSV file of --rows rows, same
settings (SplitType Line, MultiRecord, MaxPayloadInMB 6, Accept text/csv, AssembleWith Line): the SDK
(sagemaker 2.x, local mode, its own side venv) with strategy="MultiRecord" (without it, the SDK
refuses the "MULTI_RECORD" the container answers), then this toolkit with one instance, as the SDK
only has one, and with two. Each is timed from the command's start to its output on disk (the
containers' start included, as a user waits for it), and its transform alone where it says so.
Both outputs are checked row by row against the model. Writes OUT/transform.json and
OUT/transform.md (default bench/results/).

The SDK's compose file is moved to host networking by the test suite's docker-compose shim
(tests/sdk_local/compose_shim.py): no bridge network, no published port.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results"
SHIM = ROOT / "tests" / "sdk_local" / "compose_shim.py"
SDK_VENV_MODULE_DIRS = [ROOT / "tests" / "deploy" / "local", ROOT / "tests" / "local_endpoint"]
LABEL = "byoc-bench"

SDK_SCRIPT = """
import json, sys, time
from sagemaker.local import LocalSession
from sagemaker.model import Model
image, model_data, source, output, port = sys.argv[1:6]
session = LocalSession()
session.config = {"local": {"local_code": True, "serving_port": int(port)}}
model = Model(image_uri=image, model_data=model_data, role="arn:aws:iam::123456789012:role/bench",
              sagemaker_session=session)
transformer = model.transformer(instance_count=1, instance_type="local", strategy="MultiRecord",
                                max_payload=6, accept="text/csv", assemble_with="Line", output_path=output)
started = time.perf_counter()
transformer.transform(source, content_type="text/csv", split_type="Line", logs=False, wait=True)
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def say(message: str) -> None:
    print(f"[bench.transform] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transform", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--image", help="the image to run (default: built from this tree)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--skip-sdk", action="store_true", help="only this toolkit (no SDK venv needed)")
    args = parser.parse_args(argv)
    image = args.image or build_image()
    with tempfile.TemporaryDirectory(prefix="byoc-bench-transform-") as scratch:
        work = Path(scratch)
        model, archive = train(work)
        rows = write_rows(work / "input" / "rows.csv", args.rows)
        results = []
        if not args.skip_sdk:
            results.append(run_sdk(image, archive, work, rows, model))
        for instances in (1, 2):
            results.append(run_byoc(image, archive, work, rows, model, instances))
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "input_bytes": rows.nbytes_text,
        "image": image,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    sdk = next((r for r in results if r["name"] == "sdk-local-transformer"), None)
    if sdk is not None:
        for result in results:
            result["speedup_vs_sdk"] = round(sdk["seconds"] / result["seconds"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transform.json").write_text(json.dumps(document, indent=2) + "\n")
    (args.out / "transform.md").write_text(markdown(document))
    print(markdown(document))
    return 0


class Rows:
    def __init__(self, values: np.ndarray, path: Path) -> None:
        self.values = values
        self.path = path
        self.nbytes_text = path.stat().st_size


def write_rows(path: Path, count: int) -> Rows:
    path.parent.mkdir(parents=True)
    generator = np.random.default_rng(0)
    values = generator.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(count, 4)).round(4)
    np.savetxt(path, values, fmt="%.4f", delimiter=",")
    say(f"{count:,} rows, {path.stat().st_size:,} bytes")
    return Rows(values, path)


def train(work: Path) -> tuple[object, Path]:
    sys.path.insert(0, str(ROOT))
    from model_artifacts.train import train as fit

    model = fit()
    model_dir = work / "model"
    model_dir.mkdir()
    joblib.dump(model, model_dir / "model.joblib")
    archive = work / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir / "model.joblib", arcname="model.joblib")
    return model, archive


def build_image() -> str:
    base = subprocess.run(
        ["bash", str(ROOT / "local_test" / "build_base_image.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    tag = "byoc-toolkit:bench-transform"
    say(f"building {tag} on {base}")
    subprocess.run(
        ["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(ROOT)],
        check=True,
        capture_output=True,
    )
    return tag


def check(output: Path, rows: Rows, model: object) -> int:
    """Every row's prediction, in order (blank lines, which the SDK writes, left out); rows checked."""
    text = output.read_bytes()
    lines = [line for line in text.split(b"\n") if line.strip()]
    table = np.loadtxt(io.BytesIO(b"\n".join(lines)), delimiter=",", ndmin=2)
    assert table.shape[0] == len(rows.values), (table.shape, len(rows.values))
    assert (table[:, 0].astype(int) == model.predict(rows.values)).all()  # type: ignore[attr-defined]
    return text.count(b"\n") - len(lines)


def run_byoc(image: str, archive: Path, work: Path, rows: Rows, model: object, instances: int) -> dict:
    output = work / f"byoc-{instances}"
    command = [
        sys.executable, "-m", "byoc", "local", "transform", "--image", image, "--model-data", str(archive),
        "--input", str(rows.path.parent), "--output", str(output), "--content-type", "text/csv",
        "--accept", "text/csv", "--split-type", "Line", "--strategy", "MultiRecord", "--max-payload", "6",
        "--assemble-with", "Line", "--instances", str(instances), "--no-progress",
    ]  # fmt: skip
    say(f"byoc local transform, {instances} instance(s)")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"byoc local transform failed:\n{done.stderr[-3000:]}")
    blank = check(output / "rows.csv.out", rows, model)
    transform = _transform_seconds(done.stderr)
    return _result(f"byoc-local-transform-{instances}", seconds, transform, rows, blank, instances)


def _transform_seconds(stderr: str) -> float | None:
    # "... 1,000,000 records in 5 request(s), 0:31 (32,258 records/s) on 1 instance(s)"
    match = re.search(r"([\d,]+) records in .*\(([\d,]+) records/s\)", stderr)
    if match is None:
        return None
    records, rate = (int(group.replace(",", "")) for group in match.groups())
    return records / rate if rate else None


def run_sdk(image: str, archive: Path, work: Path, rows: Rows, model: object) -> dict:
    python = sdk_python()
    shims = compose_shims(python, work / "shims")
    output = work / "sdk"
    script = work / "sdk_transform.py"
    script.write_text(SDK_SCRIPT)
    env = sdk_environment(shims, work)
    port = _free_port()
    say("the SageMaker SDK's local Transformer (strategy='MultiRecord')")
    started = time.perf_counter()
    done = subprocess.run(
        [
            python,
            str(script),
            image,
            f"file://{archive}",
            f"file://{rows.path.parent}",
            f"file://{output}",
            str(port),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    _remove_containers()
    if done.returncode != 0:
        raise SystemExit(f"the SDK's transform failed:\n{done.stderr[-3000:]}")
    transform = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    blank = check(output / "rows.csv.out", rows, model)
    return _result("sdk-local-transformer", seconds, transform, rows, blank, 1)


def _result(
    name: str, seconds: float, transform: float | None, rows: Rows, blank: int, instances: int
) -> dict:
    say(f"{name}: {seconds:.1f} s, {len(rows.values) / seconds:,.0f} rows/s")
    return {
        "name": name,
        "instances": instances,
        "seconds": round(seconds, 2),
        "rows_per_second": round(len(rows.values) / seconds),
        "transform_seconds": None if transform is None else round(transform, 2),
        "blank_lines_in_output": blank,
    }


def sdk_python() -> str:
    chosen = os.environ.get("BYOC_TEST_SAGEMAKER_PYTHON", "").strip()
    if chosen:
        return chosen
    for directory in SDK_VENV_MODULE_DIRS:
        if (directory / "sdk_venv.py").exists():
            sys.path.insert(0, str(directory))
            break
    from sdk_venv import ensure_sdk_python

    return str(ensure_sdk_python(say))


def compose_shims(python: str, directory: Path) -> Path:
    if not SHIM.exists():
        raise SystemExit(f"{SHIM} is missing: the SDK's compose file must be moved to host networking")
    directory.mkdir()
    compose = directory / "docker-compose"
    compose.write_text(f"#!{python}\n" + SHIM.read_text())
    docker = directory / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = compose ]; then echo "docker compose is disabled here" >&2; exit 1; fi\n'
        f'exec {shutil.which("docker")} "$@"\n'
    )
    for path in (compose, docker):
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


def sdk_environment(shims: Path, work: Path) -> dict[str, str]:
    config = work / "sagemaker-config.yaml"
    config.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
    )
    real_compose = shutil.which("docker-compose")
    if real_compose is None:
        raise SystemExit("docker-compose is not installed (apt-get install docker-compose)")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_", "BYOC_"))}
    return {
        **keep,
        "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
        "BYOC_TEST_REAL_COMPOSE": real_compose,
        "BYOC_TEST_LABELS": f"{LABEL}=1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }


def _remove_containers() -> None:
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={LABEL}"], capture_output=True, text=True, check=False
    ).stdout.split()
    if found:
        subprocess.run(["docker", "rm", "-f", *found], capture_output=True, check=False)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def markdown(document: dict) -> str:
    lines = [
        f"# Batch transform: {document['rows']:,} CSV rows ({document['input_bytes']:,} bytes)",
        "",
        f"{document['when']}, {document['machine']['cpus']} CPUs. Same image, model, file and settings",
        "(Line, MultiRecord, 6 MB, AssembleWith Line). Wall time from the command's start, containers'",
        "start included; transform time as each reports it.",
        "",
        "| run | instances | wall s | rows/s | transform s | blank lines | vs SDK |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in document["results"]:
        transform = "-" if r["transform_seconds"] is None else f"{r['transform_seconds']:.1f}"
        speedup = r.get("speedup_vs_sdk")
        ratio = "-" if speedup is None else f"{speedup:.2f}x"
        cells = [r["name"], r["instances"], f"{r['seconds']:.1f}", f"{r['rows_per_second']:,}", transform]
        lines.append("| " + " | ".join(str(c) for c in [*cells, r["blank_lines_in_output"], ratio]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
