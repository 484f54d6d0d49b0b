"""Train the sample model as a SageMaker script-mode entry point.

    Estimator(image_uri=IMAGE, entry_point="train.py", source_dir="model_artifacts/code",
              hyperparameters={"max_iter": 200}, ...).fit({"train": "s3://.../iris/"})

The image's `train` runs it as AWS's training toolkit would: `python train.py --max_iter 200`, with
the train channel's files in SM_CHANNEL_TRAIN and the model to be written to SM_MODEL_DIR. Every
CSV file in the channel is read; the label is the first column and the four iris measurements
follow, the layout SageMaker's built-in algorithms use. model.joblib is what the image's default
scikit-learn handler serves, so the job's model.tar.gz deploys as it is.
"""

import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def parse_args():
    parser = argparse.ArgumentParser()
    # Hyperparameters arrive as arguments.
    parser.add_argument("--max_iter", type=int, default=1000)
    parser.add_argument("--random_state", type=int, default=0)
    # Where SageMaker puts things, from the SM_* variables (defaults for running it by hand).
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    return parser.parse_args()


def load_channel(directory):
    files = sorted(glob.glob(os.path.join(directory, "**", "*.csv"), recursive=True))
    if not files:
        raise ValueError(f"no CSV files in the train channel ({directory})")
    data = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    return data[:, 1:], data[:, 0].astype(int)


def main():
    args = parse_args()
    if args.max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, not {args.max_iter}")
    features, labels = load_channel(args.train)
    model = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=args.max_iter, random_state=args.random_state)
    )
    model.fit(features, labels)
    print(f"trained on {len(labels)} rows; training accuracy {model.score(features, labels):.3f}")
    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))


if __name__ == "__main__":
    main()
