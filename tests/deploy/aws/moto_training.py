"""moto in server mode, extended where it models SageMaker training jobs wrongly (test harness).

What moto 5 gets wrong about training jobs, and what this module changes (patched into moto's
classes, like tests/aws/moto_sagemaker.py does for endpoints):

* A job is Completed the moment it is created, with one `Starting` transition: now it is InProgress
  and goes through the secondary statuses of DescribeTrainingJob (Starting, Downloading, Training,
  Uploading), DELAY seconds each, to Completed or Failed, each transition with its times and message
  (API_DescribeTrainingJob, SecondaryStatusTransitions).
* No artifact is ever written: a Completed job now leaves model.tar.gz (and output.tar.gz) in moto's
  S3 at ModelArtifacts.S3ModelArtifacts, <S3OutputPath>/<job>/output/ as SageMaker does; a job whose
  output bucket does not exist fails, as SageMaker's would.
* There is no FailureReason: a Failed job now has one, "AlgorithmError: " and the failure file's text
  (capped at 1024 characters, as DescribeTrainingJob's FailureReason is).
* No log is written: the job's container log now goes to CloudWatch Logs, group
  /aws/sagemaker/TrainingJobs, stream <job>/algo-1-<epoch> (the Developer Guide's "Log Amazon
  SageMaker Events with Amazon CloudWatch").
* A duplicate CreateTrainingJob overwrote the first job: now ResourceInUse, as AWS answers.
* StopTrainingJob is not implemented: added (Stopping, then Stopped).

Per job, `script(name, outcome=..., reason=..., model=..., log=...)` chooses what the job does.
"""

from __future__ import annotations

import io
import tarfile
import threading
import time
from dataclasses import dataclass, field

from moto.core.responses import ActionResult
from moto.logs.models import logs_backends
from moto.s3.models import s3_backends
from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.responses import SageMakerResponse

DELAY = 0.3
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
MAX_REASON = 1024
PHASES = [
    ("Starting", "Preparing the instances for training"),
    ("Downloading", "Downloading input data"),
    ("Training", "Training image download completed. Training in progress."),
    ("Uploading", "Uploading generated training model"),
]


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Script:
    outcome: str = "ok"  # ok | fail
    reason: str = "ValueError: max_iter must be at least 1, not 0 (train.py, line 46)"
    model: bytes | None = None  # model.tar.gz's bytes; default a small archive
    log: list[str] = field(default_factory=lambda: ["trained on 150 rows; training accuracy 0.973"])


@dataclass
class _Run:
    started: float
    script: Script
    phase: int = 0
    stopping_since: float | None = None
    done: bool = False
    log_stream: str = ""


@dataclass
class _State:
    scripts: dict[str, Script] = field(default_factory=dict)
    runs: dict[str, _Run] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


STATE = _State()


def script(job: str, **kwargs) -> None:
    with STATE.lock:
        STATE.scripts[job] = Script(**kwargs)


def reset() -> None:
    with STATE.lock:
        STATE.scripts.clear()
        STATE.runs.clear()


Backend = sm_models.SageMakerModelBackend
_original = {name: getattr(Backend, name) for name in ("create_training_job", "describe_training_job")}


def create_training_job(self, training_job_name: str, *args, **kwargs):
    if training_job_name in self.training_jobs:
        arn = sm_models.FakeTrainingJob.arn_formatter(training_job_name, self.account_id, self.region_name)
        raise ResourceInUseException(
            message="Training job names must be unique within an AWS account and region, and a training "
            f"job with this name already exists ({arn})"
        )
    job = _original["create_training_job"](self, training_job_name, *args, **kwargs)
    now = sm_models.utcnow()
    job.training_job_status = "InProgress"
    job.secondary_status = "Starting"
    job.secondary_status_transitions = [
        {"Status": "Starting", "StartTime": now, "StatusMessage": PHASES[0][1]}
    ]
    job.training_start_time = job.training_end_time = None
    job.final_metric_data_list = None
    with STATE.lock:
        STATE.runs[training_job_name] = _Run(time.monotonic(), STATE.scripts.get(training_job_name, Script()))
    return job


def describe_training_job(self, training_job_name: str):
    _advance(self, training_job_name)
    return _original["describe_training_job"](self, training_job_name)


def stop_training_job(self, training_job_name: str) -> None:
    _advance(self, training_job_name)
    job = self.training_jobs.get(training_job_name)
    if job is None:
        arn = sm_models.FakeTrainingJob.arn_formatter(training_job_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find training job '{arn}'.")
    if job.training_job_status != "InProgress":
        raise ValidationError(
            message=f"The training job {training_job_name} is {job.training_job_status}; "
            "it cannot be stopped."
        )
    with STATE.lock:
        run = STATE.runs[training_job_name]
        run.stopping_since = time.monotonic()
        job.training_job_status = job.secondary_status = "Stopping"
        _transition(job, "Stopping", "Stopping the training job")


def _transition(job, status: str, message: str) -> None:
    now = sm_models.utcnow()
    if job.secondary_status_transitions:
        job.secondary_status_transitions[-1].setdefault("EndTime", now)
    job.secondary_status_transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
    job.secondary_status = status
    job.last_modified_time = now


def _advance(self, name: str) -> None:
    with STATE.lock:
        run = STATE.runs.get(name)
        job = self.training_jobs.get(name)
        if run is None or job is None or run.done:
            return
        if run.stopping_since is not None:
            if time.monotonic() - run.stopping_since >= DELAY:
                job.training_job_status = "Stopped"
                _transition(job, "Stopped", "Training job stopped")
                _finish(job, run)
            return
        due = int((time.monotonic() - run.started) / DELAY)
        while run.phase < min(due, len(PHASES) - 1):
            run.phase += 1
            status, message = PHASES[run.phase]
            _transition(job, status, message)
            if status == "Downloading":
                job.training_start_time = sm_models.utcnow()
            if status == "Training":
                _write_log(self, job, run)
        if due >= len(PHASES):
            _complete(self, job, run)


def _write_log(self, job, run: _Run) -> None:
    logs = logs_backends[self.account_id][self.region_name]
    if LOG_GROUP not in logs.groups:
        logs.create_log_group(LOG_GROUP, tags={})
    run.log_stream = f"{job.training_job_name}/algo-1-{int(time.time())}"
    logs.create_log_stream(LOG_GROUP, run.log_stream)
    lines = [*run.script.log]
    if run.script.outcome == "fail":
        lines += ["Traceback (most recent call last):", f"  ... {run.script.reason}"]
    now = int(time.time() * 1000)
    logs.put_log_events(LOG_GROUP, run.log_stream, [{"timestamp": now, "message": line} for line in lines])


def _complete(self, job, run: _Run) -> None:
    if run.script.outcome == "fail":
        _fail(job, run, run.script.reason)
        return
    model_uri = job.model_artifacts["S3ModelArtifacts"]
    bucket, _, key = model_uri[len("s3://") :].partition("/")
    storage = s3_backends[self.account_id]["aws"]
    if bucket not in storage.buckets:
        _fail(job, run, f"ClientError: The specified bucket does not exist: {bucket}", algorithm=False)
        return
    model = run.script.model or _tar_gz({"model.joblib": b"a model"})
    storage.put_object(bucket, key, model)
    storage.put_object(bucket, key.rsplit("/", 1)[0] + "/output.tar.gz", _tar_gz({}))
    job.training_job_status = "Completed"
    _transition(job, "Completed", "Training job completed")
    _finish(job, run)


def _fail(job, run: _Run, reason: str, algorithm: bool = True) -> None:
    text = f"AlgorithmError: {reason}" if algorithm else reason
    job.failure_reason = text[:MAX_REASON]
    job.training_job_status = "Failed"
    _transition(job, "Failed", "Training job failed")
    _finish(job, run)


def _finish(job, run: _Run) -> None:
    now = sm_models.utcnow()
    job.secondary_status_transitions[-1]["EndTime"] = now
    job.training_end_time = now
    run.done = True


def _stop_training_job_response(self) -> ActionResult:
    self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
    return ActionResult({})


_PATCHED = False


def install() -> None:
    """Patch moto's SageMaker backend and responses (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    Backend.create_training_job = create_training_job
    Backend.describe_training_job = describe_training_job
    Backend.stop_training_job = stop_training_job
    SageMakerResponse.stop_training_job = _stop_training_job_response
    _PATCHED = True
