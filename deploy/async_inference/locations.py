"""S3 URIs: parsed, joined and checked. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

_S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$")
# S3 bucket names: 3-63 characters, lower-case letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class LocationError(ValueError):
    pass


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # no leading slash; may be empty (the bucket's root)

    def join(self, *parts: str) -> S3Uri:
        pieces = [self.key.strip("/")] + [part.strip("/") for part in parts]
        return S3Uri(self.bucket, "/".join(piece for piece in pieces if piece))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str, what: str = "S3 URI") -> S3Uri:
    """`s3://bucket/key` (https:// URIs are not taken: this toolkit reads and writes with boto3)."""
    match = _S3_URI.match(uri or "")
    if match is None:
        raise LocationError(f"{what} {uri!r} is not of the form s3://BUCKET/PREFIX")
    bucket, key = match.groups()
    if not _BUCKET.match(bucket):
        raise LocationError(f"{what} {uri!r}: {bucket!r} is not a valid bucket name")
    return S3Uri(bucket, key)
