"""Predictions to response bytes, as AWS's built-in XGBoost container writes them. Pure functions.

Source: aws/sagemaker-xgboost-container 1.7-1, algorithm_mode/serve.py (invocations) and
algorithm_mode/serve_utils.py (encode_predictions_as_json, get_selected_predictions,
encode_selected_predictions), with sagemaker-containers 2.8.6.post2 _encoders.array_to_csv for CSV. Numbers
are written as Python writes the float64 value of each float32 prediction (`preds.tolist()`), so the
bytes match: 0.06876404583454132, 2.0, 1e-07.

Default output (SAGEMAKER_INFERENCE_OUTPUT unset):
    text/csv           one line per row, each ending in LF; a multi:softprob row is comma-separated
    application/json   {"predictions": [{"score": 0.5}, ...]}, json.dumps' separators, no final newline
    SAGEMAKER_BATCH    every Accept: one Python str() of each row per line, each ending in LF
Selectable output (SAGEMAKER_INFERENCE_OUTPUT=keys): per row, the selected keys (see row_values);
    application/json {"predictions": [{...}, ...]}; application/jsonlines one object per line; text/csv
    the keys' values in the variable's order, a list as "[a, b]" in quotes, LF between rows and after the
    last only in batch; application/x-recordio-protobuf one Record per row, each key's values as a
    float32 tensor under `label`.

Deliberate differences, each pinned by a test: application/jsonlines and application/x-recordio-protobuf
without selected keys are answered here (one {"score": ...} per row; the score under label["score"]),
where AWS's container fails with a 500; Accept is negotiated (q-values, lists, wildcards) where AWS
takes one exact type; and RecordIO responses carry each row's record once (AWS's writer repeats the
earlier records' bytes inside each record, which decodes to the same values).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from container.errors import InferenceError, NotAcceptable
from handlers.xgboost import recordio
from handlers.xgboost.settings import (
    LABELS,
    OUTPUT_KEYS,
    PREDICTED_LABEL,
    PREDICTED_SCORE,
    PROBABILITIES,
    PROBABILITY,
    RAW_SCORE,
    RAW_SCORES,
)

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO = "application/x-recordio-protobuf"
ACCEPTS = [CSV, JSON, JSONLINES, RECORDIO]
SCORE = "score"

BINARY_LOGISTIC = "binary:logistic"
BINARY_LOGITRAW = "binary:logitraw"
BINARY_HINGE = "binary:hinge"
MULTI_SOFTMAX = "multi:softmax"
MULTI_SOFTPROB = "multi:softprob"
_CLASSIFIER_KEYS = (PREDICTED_LABEL, LABELS, RAW_SCORE, RAW_SCORES)
_PROBABILISTIC_KEYS = (PREDICTED_LABEL, LABELS, PROBABILITY, PROBABILITIES, RAW_SCORE, RAW_SCORES)
# The objectives selectable output supports, and the keys each can fill (serve_utils.VALID_OBJECTIVES).
SELECTABLE_KEYS: dict[str, tuple[str, ...]] = {
    "reg:squarederror": (PREDICTED_SCORE,),
    "reg:logistic": (PREDICTED_SCORE,),
    "reg:gamma": (PREDICTED_SCORE,),
    "reg:absoluteerror": (PREDICTED_SCORE,),
    "reg:tweedie": (PREDICTED_SCORE,),
    BINARY_LOGISTIC: _PROBABILISTIC_KEYS,
    BINARY_LOGITRAW: _CLASSIFIER_KEYS,
    BINARY_HINGE: _CLASSIFIER_KEYS,
    MULTI_SOFTMAX: _CLASSIFIER_KEYS,
    MULTI_SOFTPROB: _PROBABILISTIC_KEYS,
}


@dataclass(frozen=True)
class OutputSpec:
    """What shapes a response besides the predictions: the model's objective and the settings."""

    objective: str
    num_class: int = 0
    keys: tuple[str, ...] | None = None  # SAGEMAKER_INFERENCE_OUTPUT, None when unset
    batch: bool = False  # SAGEMAKER_BATCH

    def check(self) -> list[str]:
        """Refuse, at load, selected keys for an objective AWS cannot select for; the keys it will fill NaN.

        AWS's container answers every request with a 500 in the first case ("Objective ... unsupported
        for selectable inference predictions"): a setting that can never work is a load failure here,
        which /ping reports. The second is AWS's documented behaviour (a warning, NaN values), kept.
        """
        if self.keys is None:
            return []
        supported = SELECTABLE_KEYS.get(self.objective)
        if supported is None:
            raise InferenceError(
                f"SAGEMAKER_INFERENCE_OUTPUT is set, but the model's objective {self.objective!r} has no "
                f"selectable output; AWS's container supports it for {', '.join(SELECTABLE_KEYS)}",
                code="unsupported_objective",
                objective=self.objective,
            )
        return [key for key in dict.fromkeys(self.keys) if key not in supported]


def encode(predictions: np.ndarray, spec: OutputSpec, accept: str) -> bytes:
    """The response body for `predictions` (one row per input row) as `accept`."""
    if accept not in ACCEPTS:
        raise NotAcceptable(
            f"cannot write {accept!r}; the XGBoost handler writes {', '.join(ACCEPTS)}", supported=ACCEPTS
        )
    if len(predictions) == 0:
        return b""
    rows = predictions.tolist()
    if spec.keys is not None:
        return _encode_selected([row_values(row, spec) for row in rows], spec, accept)
    if spec.batch:
        # serve.py: with SAGEMAKER_BATCH set, plain lines whatever the Accept.
        return "".join(f"{row}\n" for row in rows).encode()
    if accept == CSV:
        return "".join(_csv_line(row) for row in rows).encode()
    if accept == JSON:
        return json.dumps({"predictions": [{SCORE: row} for row in rows]}).encode()
    if accept == JSONLINES:
        return "".join(json.dumps({SCORE: row}) + "\n" for row in rows).encode()
    return recordio.frame(recordio.label_record({SCORE: _as_list(row)}) for row in rows)


def _csv_line(row: Any) -> str:
    return (",".join(map(str, row)) if isinstance(row, list) else str(row)) + "\n"


# --- selectable output --------------------------------------------------------------------------


def row_values(row: Any, spec: OutputSpec) -> dict[str, Any]:
    """The selected keys' values for one prediction row, in AWS's key order; NaN where inapplicable."""
    supported = SELECTABLE_KEYS.get(spec.objective, ())
    selected = dict.fromkeys(spec.keys or ())
    values = {key: _value(key, row, spec) for key in OUTPUT_KEYS if key in selected and key in supported}
    for key in selected:
        if key not in supported:
            values[key] = math.nan
    return values


def _value(key: str, row: Any, spec: OutputSpec) -> Any:
    objective = spec.objective
    softprob = objective == MULTI_SOFTPROB
    if key == LABELS:
        if objective.startswith("binary:"):
            return [0, 1]
        return list(range(spec.num_class)) if objective.startswith("multi:") and spec.num_class else math.nan
    if key == PREDICTED_SCORE:
        return row
    if softprob:
        return {
            PREDICTED_LABEL: int(np.argmax(row)),
            PROBABILITY: max(row),
            PROBABILITIES: row,
            RAW_SCORE: max(row),
            RAW_SCORES: row,
        }[key]
    if key == PREDICTED_LABEL:
        if objective == BINARY_LOGISTIC:
            return int(row > 0.5)
        if objective == BINARY_LOGITRAW:
            return int(row > 0)
        return row  # binary:hinge, multi:softmax: the prediction is the label
    if key in (PROBABILITY, RAW_SCORE):
        return row
    # PROBABILITIES (binary:logistic), RAW_SCORES: the two classes' scores.
    return [1.0 - row, row]


def _encode_selected(rows: list[dict[str, Any]], spec: OutputSpec, accept: str) -> bytes:
    if accept == JSON:
        return json.dumps({"predictions": rows}).encode()
    if accept == JSONLINES:
        return "".join(json.dumps(row) + "\n" for row in rows).encode()
    if accept == RECORDIO:
        return recordio.frame(
            recordio.label_record({key: _as_list(value) for key, value in row.items()}) for row in rows
        )
    keys = spec.keys or ()
    text = "\n".join(",".join(_csv_field(row[key]) for key in keys) for row in rows)
    return (text + "\n" if spec.batch else text).encode()


def _csv_field(value: Any) -> str:
    return f'"{value}"' if isinstance(value, list) else str(value)


def _as_list(value: Any) -> Sequence[float]:
    return value if isinstance(value, list) else [value]
