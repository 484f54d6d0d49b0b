"""SageMaker's rule for resource names, checked before anything is created (pure).

Endpoint, endpoint-config, model and variant names: 1 to 63 characters, letters, digits and
hyphens, starting and ending with a letter or digit (`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`; see
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html). Names are
case-insensitive and unique per account and region. The AWS commands and the local endpoint both
apply it, so a name that works locally works on SageMaker.
"""

from __future__ import annotations

import re

MAX_LENGTH = 63
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The variant name SageMaker's own tools give a one-variant endpoint.
DEFAULT_VARIANT = "AllTraffic"


class InvalidName(ValueError):
    """A name SageMaker would refuse; the message says why."""


def validate_name(name: str, kind: str = "endpoint") -> str:
    """Return `name` unchanged, or raise InvalidName saying what SageMaker would object to."""
    problem = _problem(name)
    if problem:
        raise InvalidName(f"{name!r} is not a valid {kind} name: {problem}")
    return name


def _problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > MAX_LENGTH:
        return f"it is {len(name)} characters long; at most {MAX_LENGTH}"
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "-"))})
    if bad:
        return f"it contains {', '.join(repr(c) for c in bad)}: only letters, digits and hyphens"
    if name.startswith("-") or name.endswith("-"):
        return "it must start and end with a letter or a digit"
    if not NAME_PATTERN.match(name):  # pragma: no cover - the checks above cover the pattern
        return f"it does not match {NAME_PATTERN.pattern}"
    return None
