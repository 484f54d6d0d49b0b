"""XGBoost: a drop-in for AWS's built-in SageMaker XGBoost container (images 1.5-1 to 1.7-1, and later).

A model.tar.gz from the built-in algorithm (an `xgboost-model` file at its root, saved by
Booster.save_model in any format xgboost reads, or a pickled Booster) serves unchanged, and answers what
AWS's container answers:

    requests   text/csv (no header), text/libsvm and text/x-libsvm, application/x-recordio-protobuf
               (dense and sparse Records), and, as an extension, application/json and JSON Lines
    responses  text/csv (the default), application/json, application/jsonlines,
               application/x-recordio-protobuf; SAGEMAKER_INFERENCE_OUTPUT selects the keys per row

model.py loads and predicts, payloads.py (with libsvm.py and recordio.py) reads requests, output.py
writes responses, settings.py reads the variables AWS's container reads. Each cites the AWS source it
follows; the tests pin every deliberate difference.

Batching: predict_fn takes any number of rows and returns one prediction row per input row, under the
"predictions" key; the "output" entry (the objective and settings output_fn needs) is shared by every
request of a batch.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from container.codecs import mediatypes
from container.config import EnvReader, load_config
from container.contract.context import Context
from container.contract.spec import (
    ArchiveContents,
    HandlerExamples,
    HandlerOptions,
    HandlerSpec,
    Review,
    Sample,
)
from container.inference.batching import CannotSplit
from handlers.xgboost import settings

if TYPE_CHECKING:
    from handlers.xgboost.model import XGBoostModel
    from handlers.xgboost.output import OutputSpec

# xgboost and protobuf are imported by the functions that use them (model.py, recordio.py), not here:
# the handler's description must import where they are not installed (byoc inspect, handler choice).
log = logging.getLogger(__name__)

CSV = "text/csv"
LIBSVM = "text/libsvm"
X_LIBSVM = "text/x-libsvm"
RECORDIO = "application/x-recordio-protobuf"
PREDICTIONS = "predictions"


@dataclass(frozen=True)
class ServedModel:
    model: XGBoostModel
    output: OutputSpec


def model_fn(model_dir: str, context: Context | None = None) -> ServedModel:
    from handlers.xgboost import model as xgb_model
    from handlers.xgboost import output

    chosen = _settings(context)
    loaded = xgb_model.load(Path(model_dir), ensemble=chosen.ensemble)
    spec = output.OutputSpec(
        objective=loaded.objective,
        num_class=loaded.num_class,
        keys=chosen.inference_output,
        batch=chosen.batch,
    )
    for key in spec.check():
        log.warning(
            "SAGEMAKER_INFERENCE_OUTPUT selects %r, which objective %s cannot fill: its value will be NaN",
            key,
            loaded.objective,
        )
    return ServedModel(loaded, spec)


def _settings(context: Context | None) -> settings.XGBoostSettings:
    config = context.config if context is not None else None
    if config is not None and isinstance(config.handler_settings, settings.XGBoostSettings):
        return config.handler_settings
    # Called directly (a notebook, a test): the same variables through the same parser.
    return settings.read(EnvReader((config or load_config()).environ))


def model_warmup_fn(model_dir: str, model: ServedModel) -> None:
    # The first prediction sets up xgboost's predictor; a row of missing values costs nothing else.
    from handlers.xgboost import model as xgb_model

    xgb_model.predict(model.model, np.full((1, model.model.num_features), np.nan))


def input_fn(input_data: bytes | str, content_type: str | None, context: Context | None = None) -> Any:
    from handlers.xgboost import payloads

    # The raw header keeps the parameters (charset, label_size) that the runtime strips from content_type.
    header = context.content_type if context is not None else content_type
    canonical, params = payloads.content_type_of(header)
    return payloads.parse(input_data, canonical, params)


def check_input(data: Any, model: ServedModel) -> Any:
    """Before a request may share a batch: rows no wider than the model (a 400 otherwise)."""
    from handlers.xgboost import model as xgb_model

    if data.shape[0]:
        xgb_model.check_width(data.shape[1], model.model.num_features)
    return data


def predict_fn(data: Any, model: ServedModel) -> dict[str, Any]:
    from handlers.xgboost import model as xgb_model

    if data.shape[0] == 0:
        predictions = np.empty((0,), dtype=np.float32)
    else:
        predictions = xgb_model.predict(model.model, data)
    return {PREDICTIONS: predictions, "output": model.output}


def split_rows(prediction: dict[str, Any], sizes: Sequence[int]) -> list[dict[str, Any]]:
    """A batch's prediction cut into each request's rows; the output settings are shared."""
    predictions = prediction[PREDICTIONS]
    if len(predictions) != sum(sizes):
        raise CannotSplit(f"{len(predictions)} predictions for {sum(sizes)} rows")
    bounds = itertools.accumulate(sizes, initial=0)
    return [
        {PREDICTIONS: predictions[start:end], "output": prediction["output"]}
        for start, end in itertools.pairwise(bounds)
    ]


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[bytes, str]:
    from handlers.xgboost import output

    return output.encode(prediction[PREDICTIONS], prediction["output"], accept), accept


# --- packaging ----------------------------------------------------------------------------------


def inspect_archive(contents: ArchiveContents) -> Review:
    """`byoc inspect`: AWS's container, and this handler, load every non-hidden root file as a model."""
    if contents.has_code:
        return Review()  # code/inference.py may load what it likes
    root = contents.root_files
    if not root:
        return Review(problems=("no model file at the root: expected xgboost-model",))
    others = [name for name in root if not HANDLER.claims(name)]
    if not others:
        return Review()
    return Review(
        warnings=(
            f"{', '.join(others)}: AWS's XGBoost container, and this handler, load every file at the root "
            "as a model, and these do not look like one; move them into a subdirectory",
        )
    )


def examples(directory: Path) -> HandlerExamples:
    """For the contract suite: a small multi:softprob Booster, and one request of each type."""
    import xgboost as xgb

    from handlers.xgboost import recordio

    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 4))
    labels = np.digitize(features[:, 0] + features[:, 1], [-0.5, 0.5])
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
        xgb.DMatrix(features, label=labels),
        num_boost_round=4,
    )
    model_dir = directory / "model"
    model_dir.mkdir(parents=True)
    booster.save_model(str(model_dir / "xgboost-model"))
    rows = np.round(features[:3], 4).tolist()
    csv_body = "\n".join(",".join(repr(v) for v in row) for row in rows)
    libsvm_body = "\n".join("0 " + " ".join(f"{i}:{v!r}" for i, v in enumerate(row)) for row in rows)
    return HandlerExamples(
        model_dir=model_dir,
        requests=(
            Sample(csv_body.encode(), CSV, rows=3),
            Sample(b"0.5,-1.0,,2.0", CSV, rows=1),
            Sample(libsvm_body.encode(), LIBSVM, rows=3),
            Sample(b"1:0.25 3:-1.5", X_LIBSVM, rows=1),
            Sample(recordio.frame(recordio.dense_record(row) for row in rows), RECORDIO, rows=3),
            Sample(recordio.frame([recordio.sparse_record([0, 2], [0.5, 1.5], 4)]), RECORDIO, rows=1),
            Sample(json.dumps({"instances": rows}).encode(), mediatypes.JSON, rows=3),
            Sample(b"[0.5, -1.0, 0.0, 2.0]\n[1, 1, 1, 1]\n", mediatypes.JSONLINES, rows=2),
        ),
        bad_requests=(
            Sample(b"1,2,3,4,5", CSV, why="five features where the model takes four"),
            Sample(b"f0,f1,f2,f3\n1,2,3,4", CSV, why="a header row"),
            Sample(b"1 a:0.5", LIBSVM, why="an index that is not a number"),
            Sample(b"\x0a\x23\xd7\xce\xff\xff\xff\x00", RECORDIO, why="a record longer than the body"),
            Sample(b'[[1, "x", 3, 4]]', mediatypes.JSON, why="a value that is not a number"),
        ),
    )


HANDLER = HandlerSpec(
    name="xgboost",
    model_fn=model_fn,
    model_warmup_fn=model_warmup_fn,
    input_fn=input_fn,
    predict_fn=predict_fn,
    output_fn=output_fn,
    # preload off: xgboost starts OpenMP threads, which do not survive a fork; each worker loads its own
    # copy, as each of AWS's gunicorn workers does. batchable: predict_fn takes stacked rows.
    options=HandlerOptions(preload=False, batchable=True),
    # What AWS's training jobs write (and xgboost-model-<fold> for k-fold cross-validation), and
    # UBJSON files by name; any other file at the root is loaded too when this handler is chosen.
    model_files=("xgboost-model", "xgboost-model-*", "*.ubj"),
    # xgboost-cpu is the image's build; a pip user may have the full xgboost distribution instead.
    packages=("xgboost-cpu|xgboost", "protobuf"),
    input_types=(CSV, LIBSVM, X_LIBSVM, RECORDIO, mediatypes.JSON, mediatypes.JSONLINES),
    output_types=(CSV, mediatypes.JSON, mediatypes.JSONLINES, RECORDIO),
    # AWS's XGBoost container answers text/csv when Accept is missing or */*.
    default_accept=CSV,
    validate_input=check_input,
    split_prediction=split_rows,
    inspect=inspect_archive,
    settings=settings.read,
    examples=examples,
)
