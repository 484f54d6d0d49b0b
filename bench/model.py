"""The benchmark model and payloads: LogisticRegression on 20 features, fixed seed, saved once.

`padded_model` is the same estimator carrying a large numpy array attribute, for the memory
measurements: a model of a few hundred MB that still predicts exactly as the small one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

N_FEATURES = 20
SEED = 0


def train() -> tuple[LogisticRegression, np.ndarray]:
    features, labels = make_classification(
        n_samples=2000, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )
    model = LogisticRegression(max_iter=1000, random_state=SEED).fit(features, labels)
    return model, features


def write_model(model_dir: Path, padding_mb: int = 0) -> Path:
    """model_dir/model.joblib; with padding_mb, a random array of that size rides on the model."""
    model, _ = train()
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


WORKLOADS = [
    Workload("csv1", "1-row CSV", 1, "text/csv"),
    Workload("json1", "1-row JSON", 1, "application/json"),
    Workload("csv100", "100-row CSV", 100, "text/csv"),
]


def _rows(count: int) -> list[list[float]]:
    _, features = train()
    return [[round(float(v), 6) for v in row] for row in features[:count]]


def sagemaker_payload(workload: Workload) -> bytes:
    """The request body for SageMaker-style servers (/invocations)."""
    rows = _rows(workload.rows)
    if workload.content_type == "text/csv":
        return "".join(",".join(repr(v) for v in row) + "\n" for row in rows).encode()
    return json.dumps(rows).encode()


def v2_payload(workload: Workload) -> bytes:
    """The same rows as an Open Inference Protocol (V2) request asking for predict and predict_proba.

    MLServer speaks only V2 (JSON over HTTP, or gRPC): it has no CSV codec, so every workload is
    sent to it as V2 JSON with the same numbers.
    """
    rows = _rows(workload.rows)
    request = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [len(rows), N_FEATURES],
                "datatype": "FP64",
                "data": [v for row in rows for v in row],
            }
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    return json.dumps(request).encode()
