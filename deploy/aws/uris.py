"""S3 and ECR URIs: what a command's --model-data, --data-capture and --image values name (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(.*)")
ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key") of s3://bucket/key; ValueError for anything else."""
    match = S3_URI.fullmatch(uri)
    if not match:
        raise ValueError(f"{uri!r} is not an S3 URI (s3://bucket/key)")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class EcrImage:
    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None


def parse_ecr_image(uri: str) -> EcrImage | None:
    """The parts of an ECR image URI; None for an image elsewhere."""
    match = ECR_IMAGE.fullmatch(uri)
    return EcrImage(**match.groupdict()) if match else None
