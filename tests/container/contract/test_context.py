"""The `context` argument (container.contract.context.Context), including multi-model-server compatibility."""

from __future__ import annotations

from pathlib import Path

import pytest
from sagemaker_inference import utils as toolkit_utils

from container import Context
from container.config import ServerConfig
from container.contract.context import CUSTOM_ATTRIBUTES, MAX_CUSTOM_ATTRIBUTES_CHARS

HEADERS = {
    "Content-Type": "text/csv; charset=utf-8",
    "Accept": "application/json",
    "X-Amzn-SageMaker-Custom-Attributes": "trace=abc",
    "x-amzn-sagemaker-inference-id": "inf-1",
    "X-Amzn-SageMaker-Target-Model": "model-a.tar.gz",
    "X-Amzn-SageMaker-Target-Variant": "variant-1",
}


CONFIG = ServerConfig(model_dir=Path("/opt/ml/model"))


def request_context() -> Context:
    return Context.for_request(CONFIG, HEADERS, "application/json", "req-7")


def test_for_request_reads_the_sagemaker_headers_case_insensitively():
    context = request_context()
    assert context.model_dir == "/opt/ml/model"
    assert context.config is CONFIG
    assert context.content_type == "text/csv; charset=utf-8"
    assert context.accept == "application/json"
    assert context.custom_attributes == "trace=abc"
    assert context.inference_id == "inf-1"
    assert context.target_model == "model-a.tar.gz"
    assert context.target_variant == "variant-1"
    assert context.request_id == "req-7"
    assert context.headers["content-type"] == "text/csv; charset=utf-8"


def test_missing_headers_are_none():
    context = Context.for_request(ServerConfig(model_dir=Path("/m")), {}, None, "r")
    assert (context.content_type, context.custom_attributes, context.inference_id) == (None, None, None)
    assert context.response_custom_attributes is None


def test_response_custom_attributes():
    context = request_context()
    context.response_custom_attributes = "score=0.9"
    assert context.response_custom_attributes == "score=0.9"
    assert context.response_headers == {CUSTOM_ATTRIBUTES: "score=0.9"}
    context.response_custom_attributes = None
    assert context.response_headers == {}


@pytest.mark.parametrize(
    "value", ["x" * (MAX_CUSTOM_ATTRIBUTES_CHARS + 1), "café", "a\r\nSet-Cookie: x=1", "tab\there"]
)
def test_response_custom_attributes_must_be_short_printable_ascii(value):
    context = request_context()
    with pytest.raises(ValueError, match="printable ASCII"):
        context.response_custom_attributes = value
    assert context.response_headers == {}


def test_custom_attributes_of_the_maximum_length_are_accepted():
    context = request_context()
    context.response_custom_attributes = "x" * MAX_CUSTOM_ATTRIBUTES_CHARS
    assert len(context.response_custom_attributes) == MAX_CUSTOM_ATTRIBUTES_CHARS


def test_set_response_header_in_both_spellings():
    context = request_context()
    context.set_response_header("X-Score", "0.9")
    context.set_response_header(0, "X-Model-Version", 3)  # multi-model-server's (idx, name, value)
    context.set_response_header("x-amzn-sagemaker-custom-attributes", "a=1")
    assert context.response_headers == {"X-Score": "0.9", "X-Model-Version": "3", CUSTOM_ATTRIBUTES: "a=1"}


@pytest.mark.parametrize("name", ["Content-Type", "content-length", "Transfer-Encoding", "Server"])
def test_framing_headers_are_reserved(name):
    with pytest.raises(ValueError, match="set by the server"):
        request_context().set_response_header(name, "x")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Bad Name", "v"),
        ("X-Bad:", "v"),
        ("", "v"),
        ("X-Split", "a\r\nSet-Cookie: x=1"),
        ("X-Nul", "a\x00"),
        ("X-Wide", "€"),
    ],
)
def test_invalid_response_headers_are_refused_when_set(name, value):
    context = request_context()
    with pytest.raises(ValueError):
        context.set_response_header(name, value)
    assert context.response_headers == {}


def test_multi_model_server_methods():
    context = request_context()
    assert context.system_properties == {"model_dir": "/opt/ml/model", "gpu_id": None}
    properties = context.request_processor[0].get_request_properties()
    assert properties["x-amzn-sagemaker-target-model"] == "model-a.tar.gz"
    assert context.request_processor[0].get_request_property("Accept") == "application/json"
    assert context.get_request_header(0, "X-Amzn-SageMaker-Inference-Id") == "inf-1"
    assert context.get_request_header(0, "X-Missing") is None
    assert context.get_all_request_header(0)["accept"] == "application/json"


def test_sagemaker_inference_reads_the_content_type_the_way_it_does_from_mms():
    properties = request_context().request_processor[0].get_request_properties()
    assert toolkit_utils.retrieve_content_type_header(properties) == "text/csv; charset=utf-8"
