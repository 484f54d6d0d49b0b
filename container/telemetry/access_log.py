"""One JSON line per request on stdout: what happened, how big, how long.

The `byoc.access` logger's level switches the lines on and off (SAGEMAKER_CONTAINER_LOG_LEVEL; see
container.telemetry.logs), but the lines do not go through logging's records and handlers. They are
collected and written together once per turn of the event loop: a write to stdout lets go of the
GIL, and in a worker whose model thread is busy, every write would wait to get it back. Outside a
running event loop a line is written at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import orjson

logger = logging.getLogger("byoc.access")

_pending: list[bytes] = []


def record(
    *,
    request_id: str,
    method: str,
    path: str,
    status: int,
    bytes_in: int,
    bytes_out: int,
    model_seconds: float,
    total_seconds: float,
    code: str | None = None,
    message: str | None = None,
) -> None:
    """One request's line; a failed request's line also carries its error code and message."""
    if not logger.isEnabledFor(logging.INFO):
        return
    line: dict[str, object] = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "model_ms": round(model_seconds * 1000, 3),
        "overhead_ms": round(max(total_seconds - model_seconds, 0.0) * 1000, 3),
        "total_ms": round(total_seconds * 1000, 3),
    }
    if code is not None:
        line["code"] = code
        line["message"] = message
    _pending.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    if len(_pending) > 1:
        return  # a flush is already scheduled
    try:
        asyncio.get_running_loop().call_soon(flush)
    except RuntimeError:
        flush()


def flush() -> None:
    """Write the collected lines now."""
    if not _pending:
        return
    text = b"".join(_pending).decode()
    _pending.clear()
    sys.stdout.write(text)
    sys.stdout.flush()
