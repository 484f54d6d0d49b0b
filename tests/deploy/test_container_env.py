"""--env NAME=VALUE: one parser, SageMaker's rules, for the AWS commands and `byoc local`."""

from __future__ import annotations

import pytest

from deploy.container_env import InvalidEnv, parse_env


def test_env_pairs() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in (["A"], ["=1"], ["1A=2"], ["A B=1"]):
        with pytest.raises(InvalidEnv):
            parse_env(bad)


def test_the_same_rule_refuses_for_both_command_groups() -> None:
    with pytest.raises(InvalidEnv, match="is not K=V") as caught:
        parse_env(["NOEQUALS"])
    assert "NAME=VALUE" in str(caught.value)
    with pytest.raises(InvalidEnv, match="at most 100"):
        parse_env([f"V{i}=x" for i in range(101)])
    assert len(parse_env([f"V{i}=x" for i in range(100)])) == 100
