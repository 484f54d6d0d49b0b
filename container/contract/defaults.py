"""The runtime's own handler functions: the last layer, used for whatever no module defines."""

from __future__ import annotations

from typing import Any

from container.codecs import decode, encode
from container.errors import InferenceError


def model_fn(model_dir: str) -> Any:
    raise InferenceError(
        "no model_fn is defined: write one in code/inference.py, or select a handler module "
        "that has one with BYOC_HANDLER",
        code="no_model_fn",
    )


def input_fn(input_data: bytes | str, content_type: str) -> Any:
    return decode.decode(input_data, content_type)


def predict_fn(data: Any, model: Any) -> Any:
    if hasattr(model, "predict"):
        return model.predict(data)
    if callable(model):
        return model(data)
    raise InferenceError(
        f"the model is a {type(model).__name__}, which has no predict method and is not callable: "
        "define predict_fn",
        code="no_predict_fn",
    )


def output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    return encode.encode(prediction, accept), accept
