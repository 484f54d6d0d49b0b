"""Train the sample model: a scikit-learn pipeline on the iris data set that ships with scikit-learn.

    python model_artifacts/train.py [OUT_DIR]

writes OUT_DIR/model.joblib (default model_artifacts/build/model). Training is deterministic and takes
well under a second, so the model is rebuilt rather than committed: a pickle made by one
scikit-learn version should not be served by another.

The same model as a SageMaker script-mode entry point is code/train.py, which reads its rows from
the train channel; `write_training_csv` writes them (label first, as SageMaker's algorithms expect).
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DEFAULT_OUT = Path(__file__).resolve().parent / "build" / "model"


def train():
    features, labels = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    return model.fit(features, labels)


def write_training_csv(path: Path) -> Path:
    """The iris rows as CSV for code/train.py's train channel: the label, then the four features."""
    features, labels = load_iris(return_X_y=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        ",".join([str(label), *(f"{value:g}" for value in row)])
        for label, row in zip(labels, features, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.joblib"
    joblib.dump(train(), path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
