"""What a failed request of a transform says: the file, the record, and the container's own error. Pure.

On SageMaker the job's log carries `<bucket>/<key>: ClientError: 400` and the container's response
body, and FailureReason often only "See job logs for more information". Here one line says which
file, which record (by line number for text), what the container answered, and what to change.

When the container is this toolkit's runtime, its JSON error names the row (CSV) or line (JSON
Lines) of the request that was wrong; for a request of several lines that is turned into the line
of the input file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deploy.transform.batches import Batch

MAX_BODY_CHARS = 1000


@dataclass(frozen=True)
class Failure:
    """One request that failed, and the record(s) it is about."""

    file: str  # the input file, as the user named it (relative to --input)
    where: str  # "line 57", "lines 1-1000 (1000 records)", ...
    message: str  # what went wrong, the container's words included
    status: int | None = None  # the container's HTTP status; None when it never answered
    records: tuple[int, ...] = ()  # the record numbers concerned

    def __str__(self) -> str:
        return f"{self.file}, {self.where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "where": self.where,
            "records": list(self.records),
            "status": self.status,
            "message": self.message,
        }


def container_error(file: str, batch: Batch, status: int, body: bytes) -> Failure:
    """A request the container answered with an error status."""
    where = batch.where
    located = _locate(batch, _error_text(body)[1])
    if located is not None:
        where = f"{located}, in the request of {batch.where}"
    return Failure(file, where, error_message(status, body), status, _numbers(batch))


def error_message(status: int, body: bytes) -> str:
    """The container's error status and message, and what to change when the status says it."""
    message = f"the container answered {status}: {_error_text(body)[0]}"
    advice = _advice(status)
    return f"{message}. {advice}" if advice else message


def no_answer(file: str, batch: Batch, error: str) -> Failure:
    """A request that got no answer (connection refused or reset, timed out)."""
    return Failure(file, batch.where, f"no answer from the container: {error}", None, _numbers(batch))


def processing_error(file: str, batch: Batch, error: str) -> Failure:
    """A request whose answer could not be filtered or joined (DataProcessing)."""
    return Failure(file, batch.where, error, None, _numbers(batch))


def _numbers(batch: Batch) -> tuple[int, ...]:
    return tuple(record.number for record in batch.records)


def _error_text(body: bytes) -> tuple[str, dict[str, Any]]:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        message = document.get("message") or document.get("Message") or document.get("error")
        if isinstance(message, str) and message:
            code = document.get("code")
            return _clip(message + (f" (code {code})" if isinstance(code, str) and code else "")), document
    return _clip(text or "(an empty body)"), {}


def _locate(batch: Batch, details: dict[str, Any]) -> str | None:
    """The input file's line a multi-line request's error points at, from the runtime's row/line field."""
    if len(batch.records) < 2 or batch.first.line is None:
        return None
    position = details.get("row", details.get("line"))
    if not isinstance(position, int) or isinstance(position, bool) or not 1 <= position <= len(batch.records):
        return None
    return batch.records[position - 1].where


def _advice(status: int) -> str:
    if status == 413:
        return (
            "The container refused the request's size: lower --max-payload, or raise the container's "
            "SAGEMAKER_MAX_PAYLOAD_IN_MB (--env), which --max-payload also sets"
        )
    if status in (408, 504):
        return (
            "The model took too long: send fewer records per request (--strategy SingleRecord or a lower "
            "--max-payload), or allow more time (--invocation-timeout, and the container's "
            "SAGEMAKER_MODEL_SERVER_TIMEOUT)"
        )
    return ""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_BODY_CHARS else text[: MAX_BODY_CHARS - 3] + "..."
