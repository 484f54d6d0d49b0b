"""The job's outcome in /opt/ml/output: `failure` with the reason, or an empty `success`.

"Signal success or failure" (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-signal-success-failure.html)
and "How Amazon SageMaker Processes Training Output"
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-output.html):
the algorithm writes the reason to /opt/ml/output/failure and exits non-zero; the service returns the
first 1024 characters as the job's FailureReason. As in AWS's training toolkit
(src/sagemaker_training/files.py, write_failure_file), a failure file the script wrote itself is kept.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 1024


def fail(failure_file: Path, reason: str) -> str:
    """Record `reason` unless the script already wrote its own; the reason that stands."""
    if failure_file.exists():
        kept = failure_file.read_text(encoding="utf-8", errors="replace")
        log.error("training failed: %s (the script's own failure file is kept: %s)", reason, kept[:200])
        return kept
    text = reason[:MAX_REASON_CHARS]
    try:
        failure_file.parent.mkdir(parents=True, exist_ok=True)
        failure_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        log.error("cannot write %s: %s", failure_file, exc)
    log.error("training failed: %s", text)
    return text


def succeed(success_file: Path) -> None:
    try:
        success_file.parent.mkdir(parents=True, exist_ok=True)
        success_file.touch()
    except OSError as exc:
        log.warning("cannot write %s: %s", success_file, exc)
