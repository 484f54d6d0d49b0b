"""The benchmark's custom inference script: the same four functions for every server that runs one.

Served as code/inference.py by this project's runtime, as the user module of AWS's
sagemaker-inference toolkit on multi-model-server, and called directly by the Flask app
(bench/servers/flask_app.py). It only uses numpy and joblib, so it runs unchanged in each stack's
own virtualenv, and it is written the way SageMaker scikit-learn users typically write one:
csv.reader / json.loads into a numpy array, predict plus predict_proba, a JSON answer.
"""

import csv
import io
import json
import os

import joblib
import numpy as np

# Read by this project's runtime only (the other stacks ignore it): predict_fn takes any number of
# rows and returns one entry per row under "predictions" and "probabilities", so with
# BYOC_BATCHING=on concurrent requests may share one call.
BYOC_HANDLER_OPTIONS = {"batchable": True}


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(request_body, content_type):
    if isinstance(request_body, bytes | bytearray):
        request_body = request_body.decode("utf-8")
    if content_type == "text/csv":
        rows = [row for row in csv.reader(io.StringIO(request_body)) if row]
        return np.asarray(rows, dtype=float)
    if content_type == "application/json":
        document = json.loads(request_body)
        if isinstance(document, dict):
            document = document.get("instances", document.get("features"))
        rows = np.asarray(document, dtype=float)
        return rows.reshape(1, -1) if rows.ndim == 1 else rows
    raise ValueError(f"unsupported content type {content_type!r}: send text/csv or application/json")


def predict_fn(data, model):
    return {"predictions": model.predict(data), "probabilities": model.predict_proba(data)}


def output_fn(prediction, accept):
    body = {
        "predictions": prediction["predictions"].tolist(),
        "probabilities": prediction["probabilities"].tolist(),
    }
    return json.dumps(body), "application/json"
