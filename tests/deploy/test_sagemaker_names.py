"""SageMaker's rule for resource names, which the AWS commands and the local endpoint both apply."""

from __future__ import annotations

import pytest

from deploy.sagemaker_names import InvalidName, validate_name


@pytest.mark.parametrize("name", ["a", "my-endpoint", "A1-b2-C3", "x" * 63, "a--b"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("x" * 64, "64 characters"),
        ("my_endpoint", "'_'"),
        ("my.endpoint", "'.'"),
        ("-start", "start and end"),
        ("end-", "start and end"),
        ("café", "'é'"),
    ],
)
def test_invalid_names_say_why(name: str, why: str) -> None:
    with pytest.raises(InvalidName, match=why):
        validate_name(name)


@pytest.mark.parametrize("name", ["a", "my-endpoint", "A1--b2", "x" * 63])
def test_valid_endpoint_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "a_b", "a.b", "x" * 64, "../etc", "a b"])
def test_invalid_endpoint_names(name: str) -> None:
    with pytest.raises(InvalidName, match="is not a valid endpoint name"):
        validate_name(name)
