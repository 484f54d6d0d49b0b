"""The benchmark model and payloads: the seed's own model, and requests that differ from one another.

The model is the one model_artifacts/train.py trains (StandardScaler + LogisticRegression on the
iris data, 4 features, 3 classes), so that the seed's unchanged code/inference.py, which reads rows
of 4 features and names the 3 iris classes, can serve it on every stack.

Each workload is a bundle of distinct bodies that wrk sends in turn (bench/wrk/post.lua): real
clients do not send one body over and over, and the runtime's checks of code that never said it may
batch (container.inference.autobatch) only count batches of requests that differ.

`padded` models carry a large NumPy array attribute, for the memory measurements: a model of a few
hundred MB that still predicts exactly as the small one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris

from model_artifacts.train import train

N_FEATURES = 4
N_CLASSES = 3
SEED = 0
ESTIMATOR = "StandardScaler + LogisticRegression (model_artifacts/train.py)"
DATA = "the iris data set, 4 features, 3 classes"
# A file of several bodies starts with this line; each body follows as its length in bytes on a line
# of its own, then the body and a newline (bench/wrk/post.lua reads it).
BUNDLE_MAGIC = b"BENCH-BODIES 1\n"


def write_model(model_dir: Path, padding_mb: int = 0) -> Path:
    """model_dir/model.joblib; with padding_mb, a random array of that size rides on the model."""
    model = train()
    if padding_mb:
        # Random, not zeros: every page is real data, nothing the kernel could share or skip.
        model.padding_ = np.random.default_rng(SEED).random(padding_mb * 2**20 // 8)
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / "model.joblib"
    joblib.dump(model, path)
    return path


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    rows: int
    content_type: str
    bodies: int  # distinct bodies wrk sends in turn
    # Connection counts measured for it (None: every one asked for); the heaviest skip c=1, where
    # they only measure the model.
    concurrency: tuple[int, ...] | None = None


WORKLOADS = [
    Workload("csv1", "1-row CSV", 1, "text/csv", bodies=256),
    Workload("json1", "1-row JSON", 1, "application/json", bodies=256),
    Workload("csv100", "100-row CSV", 100, "text/csv", bodies=32),
    Workload("json100", "100-row JSON", 100, "application/json", bodies=32),
    Workload("csv1000", "1,000-row CSV", 1000, "text/csv", bodies=8, concurrency=(8, 64)),
    Workload("json1000", "1,000-row JSON", 1000, "application/json", bodies=8, concurrency=(8, 64)),
]
BY_NAME = {w.name: w for w in WORKLOADS}


def rows(workload: Workload, index: int = 0) -> list[list[float]]:
    """The rows of body `index`: iris flowers with a little noise, one decimal as in the data set."""
    features, _ = load_iris(return_X_y=True)
    rng = np.random.default_rng([SEED, workload.rows, index])
    picked = features[rng.integers(0, len(features), workload.rows)]
    noisy = np.clip(picked + rng.normal(0, 0.3, picked.shape), 0.1, None)
    return [[round(float(v), 1) for v in row] for row in noisy]


def sagemaker_payload(workload: Workload, index: int = 0) -> bytes:
    """One request body for SageMaker-style servers (/invocations): CSV lines or a JSON list of rows."""
    table = rows(workload, index)
    if workload.content_type == "text/csv":
        return "".join(",".join(repr(v) for v in row) + "\n" for row in table).encode()
    return json.dumps(table).encode()


def v2_payload(workload: Workload, index: int = 0) -> bytes:
    """The same rows as an Open Inference Protocol (V2) request asking for predict and predict_proba.

    MLServer speaks only V2 (JSON over HTTP, or gRPC): it has no CSV codec, so every workload is
    sent to it as V2 JSON with the same numbers.
    """
    table = rows(workload, index)
    request = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [len(table), N_FEATURES],
                "datatype": "FP64",
                "data": [v for row in table for v in row],
            }
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    return json.dumps(request).encode()


def bundle(bodies: list[bytes]) -> bytes:
    """Several bodies in one file, for bench/wrk/post.lua."""
    return BUNDLE_MAGIC + b"".join(b"%d\n%s\n" % (len(body), body) for body in bodies)


def read_bundle(data: bytes) -> list[bytes]:
    """The bodies of a bundle (a file without the magic line is one body)."""
    if not data.startswith(BUNDLE_MAGIC):
        return [data]
    bodies, position = [], len(BUNDLE_MAGIC)
    while position < len(data):
        end = data.index(b"\n", position)
        length = int(data[position:end])
        bodies.append(data[end + 1 : end + 1 + length])
        position = end + 1 + length + 1
    return bodies
