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

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from container.config import ConfigError
from container.contract.context import Context
from container.errors import InferenceError
from handlers.xgboost import settings

if TYPE_CHECKING:
    from handlers.xgboost.model import XGBoostModel
    from handlers.xgboost.output import OutputSpec

# xgboost and protobuf are imported by the functions that use them (model.py, recordio.py), not here:
# the handler's description must import where they are not installed (byoc inspect, handler choice).
log = logging.getLogger(__name__)

# preload off: xgboost starts OpenMP threads, which do not survive a fork; each worker loads its own
# copy, as each of AWS's gunicorn workers does. batchable: predict_fn takes stacked rows.
BYOC_HANDLER_OPTIONS = {"preload": False, "batchable": True}

DEFAULT_ACCEPT = "text/csv"
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"


@dataclass(frozen=True)
class ServedModel:
    model: XGBoostModel
    output: OutputSpec
    default_accept: str = DEFAULT_ACCEPT


def model_fn(model_dir: str, context: Context | None = None) -> ServedModel:
    from handlers.xgboost import model as xgb_model
    from handlers.xgboost import output

    # TODO(handler boundary): the runtime will hand these settings over; until then they are read here.
    try:
        chosen = settings.load(os.environ)
    except ConfigError as exc:
        raise InferenceError(str(exc), code="invalid_setting", variable=exc.variable) from None
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
    default_accept = (os.environ.get(DEFAULT_ACCEPT_ENV) or "").strip().lower() or DEFAULT_ACCEPT
    return ServedModel(loaded, spec, default_accept)


def model_warmup_fn(model_dir: str, model: ServedModel) -> None:
    # The first prediction sets up xgboost's predictor; a row of missing values costs nothing else.
    from handlers.xgboost import model as xgb_model

    xgb_model.predict(model.model, np.full((1, model.model.num_features), np.nan))


def input_fn(input_data: bytes | str, content_type: str | None, context: Context | None = None) -> Any:
    # The raw header keeps the parameters (charset, label_size) that the runtime strips from content_type.
    from handlers.xgboost import payloads

    header = context.content_type if context is not None else content_type
    canonical, params = payloads.content_type_of(header)
    return payloads.parse(input_data, canonical, params)


def predict_fn(data: Any, model: ServedModel) -> dict[str, Any]:
    from handlers.xgboost import model as xgb_model

    if data.shape[0] == 0:
        predictions = np.empty((0,), dtype=np.float32)
    else:
        predictions = xgb_model.predict(model.model, data)
    return {"predictions": predictions, "output": model.output, "default_accept": model.default_accept}


def output_fn(prediction: dict[str, Any], accept: str, context: Context | None = None) -> tuple[bytes, str]:
    from handlers.xgboost import output

    response_type = _response_type(accept, context, prediction)
    return output.encode(prediction["predictions"], prediction["output"], response_type), response_type


def _response_type(accept: str, context: Context | None, prediction: dict[str, Any]) -> str:
    # TODO(handler boundary): the runtime will apply the handler's default Accept (text/csv, as AWS's
    # XGBoost container, unless SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT says otherwise); until then a
    # request without Accept (or with */*) is given it here.
    header = (context.headers.get("accept") if context is not None else None) or ""
    if header.strip() in ("", "*/*"):
        return prediction.get("default_accept", DEFAULT_ACCEPT)
    return accept
