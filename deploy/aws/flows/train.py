"""`byoc train`: a SageMaker training job in script mode, followed to its end.

The code is uploaded as the SageMaker Python SDK uploads it (sourcedir.tar.gz, its files at the
root, at s3://<output bucket>/<prefix>/<job>/source/; sagemaker/fw_utils.py tar_and_upload_dir), the
job created with the request the SDK would send (deploy.aws.plan.training), and followed as the
SDK's fit(wait=True, logs="All") follows it (sagemaker/session.py, _logs_for_job): the status, each
secondary status transition, and the job's CloudWatch log. Exit status 0 when it completed (the
model artifact's URI on stdout), 1 when it failed or was stopped (its FailureReason said).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import tarballs
from deploy.aws.clients.session import Aws
from deploy.aws.errors import AwsError, UsageError
from deploy.aws.output import complain, say
from deploy.aws.plan import training
from deploy.aws.waiters import Waiting, WaitTimeout

TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class TrainRequest:
    job: training.JobSpec
    source_dir: Path
    source_bucket: str
    source_key: str
    waiting: Waiting


def run(aws: Aws, request: TrainRequest) -> int:
    name = request.job.name
    if aws.sagemaker.describe_training_job(name) is not None:
        raise UsageError(f"training job {name} exists already; training job names are unique per account")
    uri = upload_source(aws, request.source_dir, request.source_bucket, request.source_key)
    say(f"uploaded {request.source_dir} as {uri}")
    aws.sagemaker.create_training_job(training.build(request.job))
    job = request.job
    say(f"created training job {name} ({job.instance_count} x {job.instance_type}, image {job.image})")
    if not request.waiting.enabled:
        say(f"not waiting: `aws sagemaker describe-training-job --training-job-name {name}` follows it")
        return 0
    try:
        description = Follower(aws, name, say, print).follow(request.waiting)
    except KeyboardInterrupt:
        print()
        complain("train", f"interrupted: job {name} goes on in SageMaker; "
                 f"`aws sagemaker stop-training-job --training-job-name {name}` stops it")  # fmt: skip
        return 130
    status = description["TrainingJobStatus"]
    if status != "Completed":
        complain(
            "train",
            f"training job {name} {status}: {description.get('FailureReason') or '(no reason given)'}",
        )
        return 1
    say(f"job {name} completed; deploy it with `byoc deploy ENDPOINT --from-training-job {name} --role ...`")
    print(description["ModelArtifacts"]["S3ModelArtifacts"])
    return 0


def upload_source(aws: Aws, source_dir: Path, bucket: str, key: str) -> str:
    """sourcedir.tar.gz of `source_dir` at s3://bucket/key; that URI."""
    with tempfile.TemporaryDirectory(prefix="byoc-sourcedir-") as scratch:
        archive = Path(scratch) / "sourcedir.tar.gz"
        tarballs.pack(source_dir, archive, skip=tarballs.SKIPPED)
        return aws.s3.upload(archive, f"s3://{bucket}/{key}")


class Follower:
    """Follows one job: new transitions (`say`) and new log lines (`show`) as they appear."""

    def __init__(self, aws: Aws, job: str, say: Callable[[str], None], show: Callable[[str], None]) -> None:
        self.aws = aws
        self.job = job
        self.say = say
        self.show = show
        self.transitions_seen = 0
        self.status = ""

    def follow(self, waiting: Waiting) -> dict[str, Any]:
        """Describe the job until it is Completed, Failed or Stopped; its last description."""
        started = time.monotonic()
        while True:
            description = self.aws.sagemaker.describe_training_job(self.job)
            if description is None:
                raise AwsError(f"training job {self.job} has disappeared")
            self._report(description, time.monotonic() - started)
            self._logs()
            if description["TrainingJobStatus"] in TERMINAL:
                return description
            if time.monotonic() - started > waiting.timeout:
                raise WaitTimeout(
                    f"training job {self.job} is still {description['TrainingJobStatus']} after "
                    f"{waiting.timeout:g} s; it goes on in SageMaker"
                )
            time.sleep(waiting.interval)

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
        streams = self.aws.logs.training_streams(self.job)
        for stream in streams:
            host = stream.split("/", 1)[-1].rsplit("-", 1)[0]
            prefix = f"{host} | " if len(streams) > 1 else ""
            for line in self.aws.logs.new_lines(stream):
                self.show(prefix + line)
