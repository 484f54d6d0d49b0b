"""S3 and ECR URIs, as --model-data, --data-capture and --image give them (no AWS)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from deploy.aws.uris import parse_ecr_image, parse_s3_uri


def test_ecr_image_uris() -> None:
    digest = "sha256:" + "a" * 64
    assert asdict(parse_ecr_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model:v1")) == {
        "account": "123456789012",
        "region": "eu-west-1",
        "repository": "team/model",
        "tag": "v1",
        "digest": None,
    }
    pinned = parse_ecr_image(f"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/m@{digest}")
    assert pinned.digest == digest and pinned.tag is None and pinned.region == "cn-north-1"
    assert parse_ecr_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/m").tag is None
    for other in (
        "127.0.0.1:5000/m:v1",
        "docker.io/library/python:3.11",
        "12345.dkr.ecr.us-east-1.amazonaws.com/m",
    ):
        assert parse_ecr_image(other) is None


def test_s3_uris() -> None:
    assert parse_s3_uri("s3://bucket-1/a/b.tar.gz") == ("bucket-1", "a/b.tar.gz")
    for bad in ("bucket/key", "s3://", "https://x/y", "s3://UPPER/key"):
        with pytest.raises(ValueError):
            parse_s3_uri(bad)
