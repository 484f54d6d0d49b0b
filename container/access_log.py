"""One JSON line per request on the `byoc.access` logger: what happened, how big, how long."""

from __future__ import annotations

import logging

import orjson

logger = logging.getLogger("byoc.access")


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
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    line = {
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
    logger.info(orjson.dumps(line).decode())
