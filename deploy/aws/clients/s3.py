"""S3: the bucket a local model archive goes to, uploads, and whether an object exists."""

from __future__ import annotations

from pathlib import Path

from botocore.exceptions import ClientError

from deploy.aws.clients.botocore_errors import error_code, error_message
from deploy.aws.errors import AwsError
from deploy.aws.uris import parse_s3_uri


class S3:
    def __init__(self, client, region: str) -> None:
        self.client = client
        self.region = region

    def ensure_bucket(self, bucket: str) -> str:
        """The bucket, created in this region when it is missing."""
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise AwsError(f"S3 bucket {bucket}: {error_message(exc)}") from exc
            # us-east-1 is the one region that refuses a LocationConstraint naming it.
            location = {} if self.region == "us-east-1" else {"LocationConstraint": self.region}
            self.client.create_bucket(
                Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {})
            )
        return bucket

    def upload(self, path: Path, uri: str) -> str:
        """Upload a file to s3://bucket/key (a key ending in "/" gets the file's name); the object's URI."""
        bucket, key = parse_s3_uri(uri)
        if not key or key.endswith("/"):
            key += path.name
        try:
            self.client.upload_file(str(path), bucket, key)
        except ClientError as exc:
            raise AwsError(f"upload to s3://{bucket}/{key}: {error_message(exc)}") from exc
        return f"s3://{bucket}/{key}"

    def list_keys(self, uri: str, limit: int = 1000) -> list[str]:
        """The keys under an s3:// prefix (at most `limit`), in S3's order."""
        bucket, prefix = parse_s3_uri(uri)
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
                if len(keys) >= limit:
                    break
        except ClientError as exc:
            raise AwsError(f"listing {uri}: {error_message(exc)}") from exc
        return keys[:limit]

    def read(self, uri: str) -> bytes | None:
        """The object's bytes; None when it does not exist."""
        bucket, key = parse_s3_uri(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise AwsError(f"{uri}: {error_message(exc)}") from exc

    def exists(self, uri: str) -> bool:
        bucket, key = parse_s3_uri(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise AwsError(f"{uri}: {error_message(exc)}") from exc
        return True
