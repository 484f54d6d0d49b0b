"""A custom inference script in the style most SageMaker scikit-learn users write.

It rides inside model.tar.gz as code/inference.py. Every function here replaces the default
handler's; the runtime supplies the HTTP side, error statuses and content negotiation.
"""

import csv
import io
import json
import os

import joblib
import numpy as np

from container import BadRequest, UnsupportedMediaType

LABELS = ["setosa", "versicolor", "virginica"]


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(request_body, content_type):
    if content_type == "application/json":
        document = json.loads(request_body)
        rows = document["features"] if isinstance(document, dict) else document
        return np.asarray(rows, dtype=float).reshape(-1, 4)
    if content_type == "text/csv":
        rows = [row for row in csv.reader(io.StringIO(request_body)) if row]
        try:
            return np.asarray(rows, dtype=float)
        except ValueError as exc:
            raise BadRequest(f"CSV rows must hold 4 numbers each: {exc}") from None
    raise UnsupportedMediaType(f"this model reads application/json or text/csv, not {content_type}")


def predict_fn(data, model):
    return {
        "predictions": model.predict(data),
        "probabilities": model.predict_proba(data),
    }


def output_fn(prediction, accept):
    body = [
        {
            "label": LABELS[int(label)],
            "class": int(label),
            "probabilities": [round(p, 6) for p in row],
        }
        for label, row in zip(prediction["predictions"], prediction["probabilities"].tolist(), strict=True)
    ]
    return json.dumps({"predictions": body}), "application/json"
