"""Error classification (container.errors.error_response): whose fault, which status, what is said."""

from __future__ import annotations

import http

import pytest
from sagemaker_inference import errors as toolkit_errors

from container import errors
from container.errors import (
    BadRequest,
    InferenceError,
    ModelNotReady,
    NotAcceptable,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    error_response,
)

SECRET = "password=hunter2 at /srv/secret/path"


@pytest.mark.parametrize(
    ("error_class", "status", "code"),
    [
        (InferenceError, 500, "inference_error"),
        (BadRequest, 400, "invalid_input"),
        (NotAcceptable, 406, "not_acceptable"),
        (PayloadTooLarge, 413, "payload_too_large"),
        (UnsupportedMediaType, 415, "unsupported_media_type"),
        (ModelNotReady, 503, "model_not_ready"),
        (RequestTimeout, 504, "timeout"),
    ],
)
def test_inference_error_classes(error_class, status, code):
    response = error_response(error_class("what went wrong"), errors.PREDICT)
    assert (response.status, response.code, response.message, response.details) == (
        status,
        code,
        "what went wrong",
        {},
    )


@pytest.mark.parametrize("stage", [errors.DECODE, errors.LOAD, errors.PREDICT, errors.ENCODE])
def test_inference_error_chooses_status_code_and_details_in_any_stage(stage):
    exc = InferenceError("'age' must be positive", status_code=422, code="invalid_age", row=3, column=2)
    response = error_response(exc, stage)
    assert response.status == 422
    assert response.body() == {
        "code": "invalid_age",
        "message": "'age' must be positive",
        "row": 3,
        "column": 2,
    }
    assert not response.is_server_fault


def test_inference_error_phrase():
    assert BadRequest("x").phrase == "Bad Request"
    assert InferenceError("x", status_code=599).phrase == "Error"


@pytest.mark.parametrize("status_code", [200, 302, 399, 600, 99])
def test_inference_error_with_a_status_that_is_not_an_error_is_a_500(status_code):
    response = error_response(InferenceError("bad status", status_code=status_code, code="mine"), "predict")
    assert response.status == 500
    assert (response.code, response.message) == ("mine", "bad status")


@pytest.mark.parametrize("stage", [errors.DECODE, errors.PREDICT])
def test_sagemaker_inference_toolkit_errors_set_the_status(stage):
    exc = toolkit_errors.BaseInferenceToolkitError(409, "the input is not a cat", "Conflict")
    response = error_response(exc, stage)
    assert (response.status, response.code, response.message) == (409, "conflict", "the input is not a cat")


def test_sagemaker_generic_error_is_its_500():
    exc = toolkit_errors.GenericInferenceToolkitError(503, "warming up")
    response = error_response(exc, errors.PREDICT)
    assert (response.status, response.code, response.message) == (503, "service_unavailable", "warming up")


def test_any_exception_with_an_int_status_code():
    class Teapot(Exception):
        status_code = 418

    assert error_response(Teapot("short and stout"), "predict").status == 418
    assert error_response(Teapot(), "predict").message == http.HTTPStatus(418).phrase


@pytest.mark.parametrize("status_code", ["400", True, 4.0, 200, 700])
def test_status_code_must_be_an_int_error_status(status_code):
    exc = ValueError(SECRET)
    exc.status_code = status_code
    response = error_response(exc, errors.PREDICT)
    assert response.status == 500
    assert SECRET not in response.message


def test_unknown_status_gets_a_generic_code():
    class Odd(Exception):
        status_code = 499

    assert error_response(Odd("x"), "predict").code == "client_error"


def test_unclassified_exception_while_decoding_is_a_400_with_its_text():
    response = error_response(ValueError("could not parse 'abc'"), errors.DECODE, "req-1")
    assert response.status == 400
    assert response.code == "invalid_input"
    assert response.message == "could not decode the request: ValueError: could not parse 'abc'"
    assert error_response(KeyError(), errors.DECODE).message == "could not decode the request: KeyError"


@pytest.mark.parametrize("stage", [errors.LOAD, errors.PREDICT, errors.ENCODE])
def test_unclassified_exception_elsewhere_is_a_500_without_its_text(stage):
    response = error_response(RuntimeError(SECRET), stage, request_id="req-42")
    assert response.status == 500
    assert response.code == f"{stage}_failed"
    assert "hunter2" not in response.message and "/srv" not in response.message
    assert "RuntimeError" not in response.message
    assert "req-42" in response.message
    assert response.details == {}
    assert response.is_server_fault


def test_500_message_without_a_request_id():
    response = error_response(RuntimeError(SECRET), errors.PREDICT)
    assert response.message == (
        "the model server failed while handling this request; the container log has the details"
    )


def test_long_messages_are_clipped():
    response = error_response(BadRequest("x" * 5000), errors.DECODE)
    assert len(response.message) == errors.MAX_MESSAGE_CHARS
    assert response.message.endswith("...")
    exact = error_response(BadRequest("y" * errors.MAX_MESSAGE_CHARS), errors.DECODE)
    assert exact.message == "y" * errors.MAX_MESSAGE_CHARS


def test_handler_contract_error_is_a_startup_error():
    assert issubclass(errors.HandlerContractError, errors.StartupError)
