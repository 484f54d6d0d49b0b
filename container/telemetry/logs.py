"""Logging for the server process and its workers (level from SAGEMAKER_CONTAINER_LOG_LEVEL)."""

from __future__ import annotations

import logging
import sys

from container.telemetry import access_log

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure_logging(level: int) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)

    # Access lines are JSON documents on stdout, one per request, written by container.telemetry.access_log
    # itself; this logger's level only switches them on and off.
    access = access_log.logger
    access.handlers.clear()
    access.propagate = False
    access.setLevel(level)
