"""A SageMaker training job, as `byoc train` runs it: the code uploaded as the SDK uploads it, the job
created, and followed to its end with its status, its secondary status transitions and its
CloudWatch log, as the SDK's fit(wait=True, logs="All") shows them (sagemaker/session.py,
_logs_for_job: log group /aws/sagemaker/TrainingJobs, streams "<job>/algo-N-<epoch>").
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.training import archives

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Clients:
    sagemaker: Any
    s3: Any
    logs: Any


def upload_source(clients: Clients, source_dir: Path, bucket: str, key: str) -> str:
    """sourcedir.tar.gz of `source_dir` (its files at the root) at s3://bucket/key; that URI."""
    with tempfile.TemporaryDirectory(prefix="byoc-sourcedir-") as scratch:
        archive = Path(scratch) / "sourcedir.tar.gz"
        archives.pack(source_dir, archive, skip=archives.SKIPPED)
        clients.s3.upload_file(str(archive), bucket, key)
    return f"s3://{bucket}/{key}"


class Follower:
    """Follows one job: new transitions and new log lines are said as they appear."""

    def __init__(self, clients: Clients, job: str, say: Callable[[str], None], show: Callable[[str], None]):
        self.clients = clients
        self.job = job
        self.say = say  # progress lines
        self.show = show  # the job's own log lines
        self.transitions_seen = 0
        self.status = ""
        self.tokens: dict[str, str | None] = {}

    def follow(self, poll_seconds: float, timeout: float | None = None) -> dict[str, Any]:
        """Describe the job until it is Completed, Failed or Stopped; its last description."""
        started = time.monotonic()
        while True:
            description = self.clients.sagemaker.describe_training_job(TrainingJobName=self.job)
            self._report(description, time.monotonic() - started)
            self._logs()
            if description["TrainingJobStatus"] in TERMINAL:
                return description
            if timeout is not None and time.monotonic() - started > timeout:
                raise TimeoutError(f"training job {self.job} is still {description['TrainingJobStatus']}")
            time.sleep(poll_seconds)

    def _report(self, description: dict[str, Any], elapsed: float) -> None:
        transitions = description.get("SecondaryStatusTransitions") or []
        for transition in transitions[self.transitions_seen :]:
            message = transition.get("StatusMessage") or ""
            self.say(f"[{elapsed:6.0f} s] {transition['Status']}{': ' + message if message else ''}")
        self.transitions_seen = len(transitions)
        status = f"{description['TrainingJobStatus']}/{description.get('SecondaryStatus', '?')}"
        if status != self.status:
            self.say(f"[{elapsed:6.0f} s] job {self.job}: {status}")
            self.status = status

    def _logs(self) -> None:
        logs = self.clients.logs
        try:
            streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job}/")
        except logs.exceptions.ResourceNotFoundException:
            return  # no log group yet: the job has not written a line
        names = sorted(stream["logStreamName"] for stream in streams.get("logStreams", []))
        for name in names:
            host = name.split("/", 1)[-1].rsplit("-", 1)[0]
            prefix = f"{host} | " if len(names) > 1 else ""
            for message in self._new_events(name):
                self.show(prefix + message.rstrip("\n"))

    def _new_events(self, stream: str) -> list[str]:
        messages: list[str] = []
        while True:
            arguments: dict[str, Any] = {
                "logGroupName": LOG_GROUP,
                "logStreamName": stream,
                "startFromHead": True,
            }
            token = self.tokens.get(stream)
            if token:
                arguments["nextToken"] = token
            answer = self.clients.logs.get_log_events(**arguments)
            messages += [event["message"] for event in answer.get("events", [])]
            following = answer.get("nextForwardToken")
            if not answer.get("events") or following == token:
                self.tokens[stream] = following or token
                return messages
            self.tokens[stream] = following
