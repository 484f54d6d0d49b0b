"""How byoc names and tags what it creates in SageMaker (no I/O; a generated name reads the clock
and a random token unless it is given them).

Models and endpoint configs get unique generated names that start with the endpoint's; each also
carries a tag naming the endpoint, so `byoc delete` finds the ones an endpoint no longer uses (left
over from updates) without guessing from names alone.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from deploy.sagemaker_names import MAX_LENGTH, validate_name

ENDPOINT_TAG = "byoc:endpoint"
# Generated names start with at most this much of the endpoint's name; the rest is the suffix.
PREFIX_LENGTH = MAX_LENGTH - len("-m-20260101-000000-0123abcd")
KINDS = {"m": "model", "c": "endpoint config"}


def generate_name(endpoint: str, kind: str, *, now: datetime | None = None, token: str | None = None) -> str:
    """A unique name for a model ("m") or endpoint config ("c") that belongs to `endpoint`.

    `{endpoint prefix}-{kind}-{UTC time}-{8 random hex}`: sortable by creation time, unique even for
    many deployments in the same second (4 hex digits collided about once in 50 draws of 50), and
    always a valid name of at most 63 characters.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'm' (model) or 'c' (endpoint config), not {kind!r}")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    token = token or secrets.token_hex(4)
    return validate_name(f"{_prefix(endpoint)}-{kind}-{stamp}-{token}", "generated")


def belongs_to(name: str, endpoint: str) -> bool:
    """Whether `name` may have been generated for `endpoint` (checked against the tag afterwards)."""
    return name.startswith(_prefix(endpoint) + "-")


def tags(endpoint: str) -> list[dict[str, str]]:
    return [{"Key": ENDPOINT_TAG, "Value": endpoint}]


def default_bucket(region: str, account: str) -> str:
    """Where a local model archive is uploaded without --bucket: the SageMaker SDK's default bucket."""
    return f"sagemaker-{region}-{account}"


def upload_uri(bucket: str, endpoint: str, model_name: str) -> str:
    return f"s3://{bucket}/byoc/{endpoint}/{model_name}/model.tar.gz"


def _prefix(endpoint: str) -> str:
    return endpoint[:PREFIX_LENGTH].rstrip("-")
