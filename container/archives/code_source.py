"""Where the user's code comes from, and fetching it: the one place serving and training get their code.

SageMaker names the code directory in SAGEMAKER_SUBMIT_DIRECTORY (serving) or the
`sagemaker_submit_directory` hyperparameter (training). The SageMaker Python SDK sets it to an S3
URI of a `sourcedir.tar.gz` it uploaded, to `file://DIR` in local mode, or to a directory the
platform mounted (/opt/ml/code, /opt/ml/model/code). `parse` reads the value (pure); `fetch` makes a
local directory of it: a directory is used where it is, an archive (from S3 or on disk) is opened
with the toolkit's safe extraction into a private directory.

S3 is read with boto3 and its standard credential chain and configuration, so the role of a
SageMaker instance, AWS_REGION and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 (a moto server in tests)
all apply as they would to any AWS client in the container.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from container.archives.extraction import ArchiveError, Limits, safe_extract

log = logging.getLogger(__name__)

S3 = "s3"
LOCAL = "local"
READ_CHUNK = 1024 * 1024
PROGRESS_EVERY_BYTES = 64 * 1024 * 1024


class CodeSourceError(ValueError):
    """The value cannot name code: an unsupported scheme, or an S3 URI without a bucket or key."""


class CodeFetchError(RuntimeError):
    """The code could not be fetched or opened; the message names the URI and the cause."""

    def __init__(self, uri: str, cause: str) -> None:
        super().__init__(f"cannot fetch the code from {uri}: {cause}")
        self.uri = uri
        self.cause = cause


@dataclass(frozen=True)
class CodeSource:
    """A parsed submit directory: an S3 object (bucket, key) or a local path (directory or archive)."""

    uri: str
    kind: str  # S3 or LOCAL
    path: Path | None = None
    bucket: str = ""
    key: str = ""

    @property
    def is_local_directory(self) -> bool:
        """True when the code is a directory on this machine (used where it is, nothing fetched)."""
        return self.kind == LOCAL and self.path is not None and self.path.is_dir()


def parse(uri: str) -> CodeSource:
    """Read a submit directory value: `s3://bucket/key`, `file://PATH`, or a plain path."""
    value = uri.strip()
    if not value:
        raise CodeSourceError("an empty value names no code")
    if "://" not in value:
        return CodeSource(uri=value, kind=LOCAL, path=Path(value))
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        key = parts.path.lstrip("/")
        if not parts.netloc or not key or key.endswith("/"):
            raise CodeSourceError(f"{value!r} is not an S3 object URI (s3://bucket/path/sourcedir.tar.gz)")
        return CodeSource(uri=value, kind=S3, bucket=parts.netloc, key=key)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise CodeSourceError(f"{value!r} names another host; file:// URIs must be local")
        return CodeSource(uri=value, kind=LOCAL, path=Path(unquote(parts.path)))
    raise CodeSourceError(f"{value!r}: only s3:// and file:// URIs and local paths are supported")


def fetch(source: CodeSource, limits: Limits, workdir: Path | None = None) -> Path:
    """A local directory holding the code: `source`'s own directory, or a new private one.

    An archive (downloaded from S3 first) is extracted with the toolkit's safe extraction into a
    fresh directory under `workdir` (default: the system's temporary directory), so the code is
    never mixed with whatever else is there. CodeFetchError says what went wrong.
    """
    if source.kind == LOCAL:
        assert source.path is not None
        if source.path.is_dir():
            return source.path
        if not source.path.is_file():
            raise CodeFetchError(source.uri, f"{source.path} does not exist")
        return _extract(source, source.path, limits, workdir)
    scratch = Path(tempfile.mkdtemp(prefix="byoc-download-", dir=workdir))
    try:
        archive = scratch / "sourcedir.tar.gz"
        _download(source, archive, limits.max_bytes)
        return _extract(source, archive, limits, workdir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _extract(source: CodeSource, archive: Path, limits: Limits, workdir: Path | None) -> Path:
    # mkdtemp makes a directory only this user can enter: nobody else can swap the code in it.
    private = Path(tempfile.mkdtemp(prefix="byoc-code-", dir=workdir))
    try:
        entries = safe_extract(archive, private / "code", limits)
    except ArchiveError as exc:
        shutil.rmtree(private, ignore_errors=True)
        raise CodeFetchError(source.uri, str(exc)) from None
    files = sum(1 for entry in entries if entry.kind == "file")
    log.info("extracted %d file(s) of %s into %s", files, source.uri, private / "code")
    return private / "code"


def _download(source: CodeSource, target: Path, max_bytes: int) -> None:
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise CodeFetchError(source.uri, "boto3 is not installed, so S3 cannot be read") from None
    started = time.monotonic()
    log.info("downloading %s", source.uri)
    try:
        response = boto3.client("s3").get_object(Bucket=source.bucket, Key=source.key)
        size = int(response.get("ContentLength") or 0)
        if size > max_bytes:
            raise CodeFetchError(source.uri, f"the object is {size} bytes, over the {max_bytes}-byte limit")
        received = _copy(response["Body"], target, source, max_bytes, size)
    except botocore.exceptions.ClientError as exc:
        raise CodeFetchError(source.uri, _client_error(exc)) from None
    except botocore.exceptions.NoCredentialsError:
        raise CodeFetchError(source.uri, "no AWS credentials were found (role, variables or files)") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise CodeFetchError(source.uri, str(exc)) from None
    log.info("downloaded %s (%d bytes) in %.1f s", source.uri, received, time.monotonic() - started)


def _copy(body, target: Path, source: CodeSource, max_bytes: int, size: int) -> int:
    received = 0
    next_report = PROGRESS_EVERY_BYTES
    with open(target, "xb") as out:
        while chunk := body.read(READ_CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise CodeFetchError(source.uri, f"the object is over the {max_bytes}-byte limit")
            out.write(chunk)
            if received >= next_report:
                log.info("downloading %s: %d of %d MiB", source.uri, received >> 20, size >> 20)
                next_report += PROGRESS_EVERY_BYTES
        out.flush()
        os.fsync(out.fileno())
    return received


def _client_error(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = error.get("Code") or "error"
    message = error.get("Message") or ""
    if code in ("NoSuchKey", "404", "NotFound"):
        return "no such object (S3 answered 404)"
    if code in ("NoSuchBucket",):
        return "no such bucket (S3 answered 404)"
    if code in ("AccessDenied", "403", "Forbidden"):
        return "access denied (S3 answered 403): the role or credentials may not read it"
    return f"S3 answered {status or ''} {code}{': ' + message if message else ''}".replace("  ", " ")
