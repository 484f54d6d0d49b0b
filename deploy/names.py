"""SageMaker resource names: validation up front, and unique generated names for models and configs.

Pure functions, no AWS calls. SageMaker's rule for endpoint, endpoint-config, model and variant
names: 1 to 63 characters, letters, digits and hyphens, starting and ending with a letter or digit
(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`). Names are case-insensitive and unique per account and region.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

MAX_LENGTH = 63
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DEFAULT_VARIANT = "AllTraffic"
# Every model and endpoint config the tool creates carries this tag, so `byoc delete` finds the ones
# an endpoint no longer uses (left over from updates) without guessing from names.
ENDPOINT_TAG = "byoc:endpoint"
# Generated names start with at most this much of the endpoint's name; the rest is the suffix.
PREFIX_LENGTH = MAX_LENGTH - len("-m-20260101-000000-0123abcd")


class InvalidName(ValueError):
    """A name SageMaker would refuse; the message says why."""


def validate_name(name: str, kind: str = "endpoint") -> str:
    """Return `name` unchanged, or raise InvalidName saying what SageMaker would object to."""
    if not name:
        raise InvalidName(f"the {kind} name is empty")
    if len(name) > MAX_LENGTH:
        raise InvalidName(f"the {kind} name {name!r} is {len(name)} characters long; at most {MAX_LENGTH}")
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "-"))})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidName(f"the {kind} name {name!r} contains {shown}: only letters, digits and hyphens")
    if name.startswith("-") or name.endswith("-"):
        raise InvalidName(f"the {kind} name {name!r} must start and end with a letter or a digit")
    if not NAME_PATTERN.match(name):  # pragma: no cover - the checks above cover the pattern
        raise InvalidName(f"the {kind} name {name!r} does not match {NAME_PATTERN.pattern}")
    return name


def generate_name(endpoint: str, kind: str, *, now: datetime | None = None, token: str | None = None) -> str:
    """A unique name for a model ("m") or endpoint config ("c") that belongs to `endpoint`.

    `{endpoint prefix}-{kind}-{UTC time}-{8 random hex}`: sortable by creation time, unique even for
    many deployments in the same second (4 hex digits collided about once in 50 draws of 50), and
    always a valid name of at most 63 characters.
    """
    if kind not in ("m", "c"):
        raise ValueError(f"kind must be 'm' (model) or 'c' (endpoint config), not {kind!r}")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    token = token or secrets.token_hex(4)
    prefix = endpoint[:PREFIX_LENGTH].rstrip("-")
    return validate_name(f"{prefix}-{kind}-{stamp}-{token}", "generated")


def belongs_to(name: str, endpoint: str) -> bool:
    """Whether `name` may have been generated for `endpoint` (checked against the tag afterwards)."""
    return name.startswith(endpoint[:PREFIX_LENGTH].rstrip("-") + "-")


def scaling_resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key") of s3://bucket/key; ValueError for anything else."""
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(.*)", uri)
    if not match:
        raise ValueError(f"{uri!r} is not an S3 URI (s3://bucket/key)")
    return match.group(1), match.group(2)


ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def parse_ecr_image(uri: str) -> dict[str, str | None] | None:
    """{"account", "region", "repository", "tag", "digest"} of an ECR image URI; None for others."""
    match = ECR_IMAGE.fullmatch(uri)
    return match.groupdict() if match else None
