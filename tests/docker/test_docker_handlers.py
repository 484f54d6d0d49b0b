"""The image's other handlers: an AWS-style XGBoost model.tar.gz, and an ONNX model, served from the image.

The XGBoost archive is what AWS's built-in algorithm leaves in S3 after a 1.7-1 training job: a tar.gz
with one `xgboost-model` at its root, the legacy binary that xgboost 1.7.4's Booster.save_model wrote
(tests/handlers/fixtures/xgboost). The image extracts it with its own `byoc extract`, as SageMaker
extracts it into /opt/ml/model, and answers as AWS's container answers
(aws/sagemaker-xgboost-container 1.7-1, algorithm_mode/serve.py).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from docker_helpers import extract_in_image

pytestmark = pytest.mark.docker

FIXTURES = Path(__file__).resolve().parents[1] / "handlers" / "fixtures"
EXPECTED = json.loads((FIXTURES / "xgboost" / "1.7.4" / "expected.json").read_text())


def aws_style_archive(directory: Path) -> Path:
    """model.tar.gz as the built-in algorithm's training job writes it: xgboost-model at the root."""
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(FIXTURES / "xgboost" / "1.7.4" / "binary-logistic" / "xgboost-model", arcname="xgboost-model")
    return archive


def test_an_aws_xgboost_model_tar_gz_serves_as_aws_serves_it(
    image: str, start_container, tmp_path: Path
) -> None:
    model_dir = extract_in_image(image, aws_style_archive(tmp_path), tmp_path / "extracted")
    assert sorted(p.name for p in model_dir.iterdir()) == ["xgboost-model"]
    # No BYOC_HANDLER: the `xgboost-model` file chooses the handler, as it must for an unchanged archive.
    container = start_container(model_dir=model_dir)
    predictions = EXPECTED["cases"]["binary-logistic"]
    rows = EXPECTED["dense_rows"]
    csv_rows = "\n".join(",".join("" if v != v else repr(v) for v in row) for row in rows)
    with container.http() as http:
        # No Accept: text/csv, one score per line (serve.py _parse_accept's default).
        response = http.post("/invocations", content=csv_rows, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.text == "".join(f"{p}\n" for p in predictions["dense_predictions"])
        libsvm = "\n".join(" ".join(f"{i}:{v!r}" for i, v in row) for row in EXPECTED["sparse_rows"])
        response = http.post(
            "/invocations",
            content=libsvm,
            headers={"Content-Type": "text/libsvm", "Accept": "application/json"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [{"score": p} for p in predictions["sparse_predictions"]]}
        recordio = (FIXTURES / "recordio" / "dense-float32.rec").read_bytes()
        response = http.post(
            "/invocations", content=recordio, headers={"Content-Type": "application/x-recordio-protobuf"}
        )
        assert response.status_code == 200, response.text
        assert response.text == "".join(f"{p}\n" for p in predictions["dense_predictions"])


def test_an_onnx_model_serves_from_the_image(start_container, tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    estimator = LogisticRegression(max_iter=500).fit(features, labels)
    model = to_onnx(estimator, features[:1].astype(np.float32), options={id(estimator): {"zipmap": False}})
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(model.SerializeToString())
    container = start_container(model_dir=model_dir)  # chosen by model.onnx
    with container.http() as http:
        response = http.post("/invocations", json=features[[0, 100]].tolist())
        assert response.status_code == 200, response.text
        assert response.json()["outputs"]["label"] == estimator.predict(features[[0, 100]]).tolist()
        wrong = http.post("/invocations", json=[[1.0, 2.0]])
        assert wrong.status_code == 400
        assert wrong.json()["input"] == "X"
