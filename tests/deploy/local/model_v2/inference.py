"""The "new model" of the blue/green test: the sample model behind a script whose answers differ.

Answers {"model": "v2", "predictions": [...]} in JSON whatever was asked, and echoes the request's
custom attributes back as the response's (`echo=...`), so both the switch and the round trip of
X-Amzn-SageMaker-Custom-Attributes are observable through boto3.
"""

import csv
import io
import json
import os

import joblib
import numpy as np

from container import BadRequest, UnsupportedMediaType


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def transform_fn(model, input_data, content_type, accept, context):
    if content_type == "application/json":
        rows = json.loads(input_data)
    elif content_type == "text/csv":
        rows = [row for row in csv.reader(io.StringIO(input_data)) if row]
    else:
        raise UnsupportedMediaType(f"v2 reads application/json or text/csv, not {content_type}")
    try:
        data = np.asarray(rows, dtype=float)
    except ValueError as exc:
        raise BadRequest(f"v2 wants numbers: {exc}") from None
    if data.ndim == 1:
        data = data.reshape(1, -1)
    if data.ndim != 2 or data.shape[1] != 4:
        raise BadRequest(f"v2 wants rows of 4 features, got shape {list(data.shape)}")
    if context.custom_attributes:
        context.response_custom_attributes = f"echo={context.custom_attributes}"
    answer = {"model": "v2", "predictions": [int(p) for p in model.predict(data)]}
    return json.dumps(answer), "application/json"
