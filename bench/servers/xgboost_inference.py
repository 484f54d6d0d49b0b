"""The XGBoost benchmark's inference.py for AWS's sagemaker-inference toolkit on multi-model-server.

It does what the byoc XGBoost handler does for a CSV request and a CSV answer, the way AWS's XGBoost
container does it in script mode (aws/sagemaker-xgboost-container, encoder.csv_to_dmatrix and
serve_utils.predict): the delimiter from csv.Sniffer on the first line, empty fields as missing values,
a float64 array into a DMatrix, Booster.predict with one thread per worker, and one score per line out.
"""

import csv
import os

import numpy as np
import xgboost as xgb


def model_fn(model_dir):
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model"))
    booster.set_param("nthread", 1)
    return booster


def input_fn(request_body, content_type):
    if isinstance(request_body, bytes | bytearray):
        request_body = request_body.decode("utf-8")
    if content_type != "text/csv":
        raise ValueError(f"unsupported content type {content_type!r}: send text/csv")
    text = request_body.strip()
    delimiter = csv.Sniffer().sniff(text.split("\n")[0][:512]).delimiter
    delimiter = "," if delimiter.isalnum() else delimiter
    rows = [["nan" if field == "" else field for field in line.split(delimiter)] for line in text.split("\n")]
    return xgb.DMatrix(np.array(rows).astype(float))


def predict_fn(data, model):
    return model.predict(data, validate_features=False)


def output_fn(prediction, accept):
    return "".join(f"{value}\n" for value in prediction.tolist()), "text/csv"
