"""`byoc upload`: a model archive to S3 (and a local --model-data of deploy and update)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy.aws.clients.session import Aws
from deploy.aws.errors import UsageError
from deploy.aws.output import say
from deploy.aws.uris import parse_s3_uri


@dataclass(frozen=True)
class UploadRequest:
    archive: Path
    destination: str  # s3://bucket/key, or s3://bucket/prefix/ (the archive's name is added)


def run(aws: Aws, request: UploadRequest) -> int:
    say(upload(aws, request.archive, request.destination))
    return 0


def upload(aws: Aws, archive: Path, destination: str) -> str:
    """Upload a gzipped tar to S3, saying so; the object's URI."""
    if not archive.is_file():
        raise UsageError(f"{archive}: no such file")
    if not archive.name.endswith((".tar.gz", ".tgz")):
        raise UsageError(
            f"{archive}: SageMaker expects a gzipped tar (model.tar.gz); `byoc package` makes one"
        )
    parse_s3_uri(destination if destination.count("/") > 2 else destination + "/")
    say(f"uploading {archive} ({archive.stat().st_size:,} bytes) to {destination}")
    uri = aws.s3.upload(archive, destination)
    say(f"uploaded {uri}")
    return uri
