"""The container environment given on the command line as repeated `--env NAME=VALUE` (pure).

One rule set for `byoc deploy/update` and `byoc local up/update`, SageMaker's: a shell-style
variable name, any value (it may hold "=" and be empty), at most 100 variables (CreateModel's
ContainerDefinition.Environment, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_VARIABLES = 100
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InvalidEnv(ValueError):
    """An --env value that is not NAME=VALUE, or too many of them; the message says which."""


def parse_env(pairs: Iterable[str] | None) -> dict[str, str]:
    """["K=V", ...] -> {"K": "V"}; a later K wins over an earlier one."""
    env: dict[str, str] = {}
    for pair in pairs or ():
        name, separator, value = pair.partition("=")
        if not separator or not NAME.fullmatch(name):
            raise InvalidEnv(
                f"--env {pair!r} is not K=V: expected NAME=VALUE with a shell-style variable name"
            )
        env[name] = value
    if len(env) > MAX_VARIABLES:
        raise InvalidEnv(f"{len(env)} environment variables; SageMaker allows at most {MAX_VARIABLES}")
    return env
