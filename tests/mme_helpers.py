"""Model directories and requests for the multi-model tests (native, Docker and byoc local alike).

Contract: "Custom Containers Contract for Multi-Model Endpoints"
https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html (routes, 409/404/507), and
"Build Your Own Container for SageMaker Multi-Model Endpoints"
https://docs.aws.amazon.com/sagemaker/latest/dg/build-multi-model-build-container.html (the image label
com.amazonaws.sagemaker.capabilities.multi-models=true; SageMaker sets SAGEMAKER_MULTI_MODEL=true, which
aws/sagemaker-inference-toolkit's src/sagemaker_inference/model_server.py reads as ENABLE_MULTI_MODEL).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import joblib
import numpy as np

# A user module that says which model answered: its own neighbour module (helper.py, the same name
# in every model) holds the model's tag, so a model served with another's code is caught.
INFERENCE = """
import json
import os

import helper


def model_fn(model_dir):
    if helper.TAG == "broken":
        raise ValueError("this model cannot load")
    if helper.TAG == "hungry":
        raise MemoryError("cannot allocate the model")
    return {"tag": helper.TAG, "dir": model_dir}


def input_fn(data, content_type):
    return data


def predict_fn(data, model):
    return model["tag"]


def output_fn(prediction, accept, context):
    answer = {"model": prediction, "target_model": context.target_model, "pid": os.getpid()}
    return json.dumps(answer), "application/json"
"""


def code_model(directory: Path, tag: str) -> Path:
    """A model directory whose code/inference.py answers {"model": tag, ...}."""
    code = directory / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "inference.py").write_text(textwrap.dedent(INFERENCE))
    (code / "helper.py").write_text(f"TAG = {tag!r}\n")
    return directory


def padded_model(directory: Path, trained: object, padding_mb: int) -> Path:
    """A scikit-learn model.joblib carrying `padding_mb` MiB of random numbers (memory tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    model = joblib.load(joblib.dump(trained, directory / "model.joblib")[0])
    model.padding_ = np.random.default_rng(0).random(padding_mb * 2**20 // 8)
    joblib.dump(model, directory / "model.joblib")
    return directory


def load(http: httpx.Client, name: str, url: str, **headers: str) -> httpx.Response:
    return http.post("/models", json={"model_name": name, "url": url}, headers=headers, timeout=120)


def invoke(http: httpx.Client, name: str, body: bytes = b"x", **headers: str) -> httpx.Response:
    return http.post(
        f"/models/{name}/invoke", content=body, headers={"Content-Type": "text/plain", **headers}
    )
