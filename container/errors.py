"""Errors that carry an HTTP status, and the mapping from any exception to an error response.

User code raises `InferenceError` (or any exception with an integer `status_code` attribute, such as
sagemaker_inference's `BaseInferenceToolkitError`) to choose the status the client sees. Everything
else is classified by the stage it was raised in: decoding the request is the client's fault (400),
loading, predicting and encoding are the server's (500).
"""

from __future__ import annotations

import http
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE_CHARS = 1000


class InferenceError(Exception):
    """An error with the HTTP status, machine-readable code and message the client should get.

    Raise it (or a subclass) from `model_fn`, `input_fn`, `predict_fn`, `output_fn` or `transform_fn`:

        raise InferenceError("'age' must be positive", status_code=422, code="invalid_age")

    Extra keyword arguments are returned to the client as fields of the JSON error body, so say
    exactly what was wrong: `row=3, column=2, expected=20`.
    """

    status_code: int = 500
    code: str = "inference_error"

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        *,
        code: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        self.details = details

    @property
    def phrase(self) -> str:
        """The reason phrase, as sagemaker_inference's errors carry one."""
        return _reason_phrase(self.status_code)


class BadRequest(InferenceError):
    status_code = 400
    code = "invalid_input"


class NotAcceptable(InferenceError):
    status_code = 406
    code = "not_acceptable"


class PayloadTooLarge(InferenceError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(InferenceError):
    status_code = 415
    code = "unsupported_media_type"


class ModelNotReady(InferenceError):
    status_code = 503
    code = "model_not_ready"


class RequestTimeout(InferenceError):
    status_code = 504
    code = "timeout"


@dataclass(frozen=True)
class ErrorResponse:
    """What the client receives for a failed request: a status and a JSON body."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}

    @property
    def is_server_fault(self) -> bool:
        return self.status >= 500


# Stages of a request, used to decide whose fault an unclassified exception is.
DECODE = "decode"
LOAD = "load"
PREDICT = "predict"
ENCODE = "encode"
CLIENT_FAULT_STAGES = frozenset({DECODE})


def error_response(exc: BaseException, stage: str, request_id: str = "") -> ErrorResponse:
    """Classify an exception raised while serving a request.

    Never returns a traceback or an exception's text for an unclassified server fault: that text
    can hold paths, data or secrets. The server log has the full traceback under the same id.
    """
    status = _declared_status(exc)
    if isinstance(exc, InferenceError):
        # A status outside 400-599 (InferenceError(..., status_code=200)) is a mistake in the code
        # that raised it, so a server fault; its message and details were meant for the client.
        return ErrorResponse(status or 500, exc.code, _clip(exc.message), dict(exc.details))
    if status is not None:
        # sagemaker_inference style: status_code, message, phrase.
        message = getattr(exc, "message", None) or str(exc) or _reason_phrase(status)
        return ErrorResponse(status, _code_for_status(status), _clip(str(message)))
    if stage in CLIENT_FAULT_STAGES:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ErrorResponse(400, "invalid_input", _clip(f"could not decode the request: {message}"))
    reference = f" (request id {request_id})" if request_id else ""
    return ErrorResponse(
        500,
        f"{stage}_failed",
        f"the model server failed while handling this request{reference}; the container log has the details",
    )


def _declared_status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        return status
    return None


def _code_for_status(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "client_error" if status < 500 else "server_error"


def _reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _clip(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."


class StartupError(Exception):
    """The server cannot start: a user module that will not import, a bad handler, and the like."""


class HandlerContractError(StartupError):
    """A handler module breaks the function contract (signatures, transform_fn combinations)."""
