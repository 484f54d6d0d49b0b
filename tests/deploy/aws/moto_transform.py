"""moto in server mode, extended where it models SageMaker transform jobs wrongly (test harness).

What moto 5 gets wrong about transform jobs (moto/sagemaker/models.py, FakeTransformJob and
create_transform_job), and what this module changes (patched into moto's classes, as
tests/aws/moto_sagemaker.py does for endpoints):

* A job is Completed the moment it is created, its start and end times its creation time: now it is
  InProgress for DELAY seconds, then Completed, or Failed with a FailureReason (per job, `script`).
* A Completed job wrote nothing: it now writes one object per input object, the input's key under
  the input prefix with ".out" appended under S3OutputPath, as TransformOutput.S3OutputPath
  documents; a Failed or Stopped job writes none ("Batch transform doesn't upload partially
  processed objects").
* FailureReason and LabelingJobArn were "" for every job: now absent unless set.
* No check at all: a duplicate name overwrote the job (AWS: ResourceInUse), a model that does not
  exist was taken (AWS: ValidationException), and so were MaxConcurrentTransforms * MaxPayloadInMB
  over 100 and an input prefix with no object under it (AWS: ValidationException "No S3 objects
  found under S3 URL ...").
* StopTransformJob is not implemented: added (Stopping, then Stopped after DELAY).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from moto.core.responses import ActionResult
from moto.s3.models import s3_backends
from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.responses import SageMakerResponse

DELAY = 0.3
MAX_PAYLOAD_PRODUCT = 100


@dataclass
class Script:
    outcome: str = "ok"  # ok | fail
    reason: str = "ClientError: See job logs for more information"
    answer: Callable[[bytes], bytes] = field(default=lambda data: data.upper())


@dataclass
class _Run:
    started: float
    script: Script
    stopping_since: float | None = None
    done: bool = False


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
_original = {name: getattr(Backend, name) for name in ("create_transform_job", "describe_transform_job")}


def _s3(self):
    return s3_backends[self.account_id]["aws"]


def _inputs(self, uri: str) -> tuple[str, str, list[str]]:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    storage = _s3(self)
    if bucket not in storage.buckets:
        return bucket, prefix, []
    keys = [key for key in storage.buckets[bucket].keys if key.startswith(prefix)]
    return bucket, prefix, sorted(keys)


def create_transform_job(
    self, transform_job_name: str, model_name: str, max_concurrent_transforms, *args, **kwargs
):
    if transform_job_name in self.transform_jobs:
        arn = sm_models.FakeTransformJob.arn_formatter(transform_job_name, self.account_id, self.region_name)
        raise ResourceInUseException(message=f"Transform job {arn} already exists.")
    if model_name not in self._models:
        arn = sm_models.arn_formatter("model", model_name, self.account_id, self.region_name)
        raise ValidationError(message=f'Could not find model "{arn}".')
    max_payload = kwargs.get("max_payload_in_mb")
    if (
        max_concurrent_transforms
        and max_payload
        and max_concurrent_transforms * max_payload > MAX_PAYLOAD_PRODUCT
    ):
        raise ValidationError(
            message="MaxConcurrentTransforms * MaxPayloadInMB must not exceed 100 MB "
            f"(got {max_concurrent_transforms} * {max_payload})."
        )
    source = kwargs["transform_input"]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, _, keys = _inputs(self, source)
    if not keys:
        raise ValidationError(
            message=f'No S3 objects found under S3 URL "{source}" given in input data source. Please ensure '
            f"that the bucket exists in the selected region ({self.region_name}), that objects exist under "
            f'that S3 prefix, and that the role has "s3:ListBucket" permissions on bucket "{bucket}".'
        )
    job = _original["create_transform_job"](
        self, transform_job_name, model_name, max_concurrent_transforms, *args, **kwargs
    )
    job.transform_job_status = "InProgress"
    job.failure_reason = None
    job.labeling_job_arn = None
    job.auto_ml_job_arn = None
    job.transform_start_time = job.transform_end_time = None
    with STATE.lock:
        STATE.runs[transform_job_name] = _Run(
            time.monotonic(), STATE.scripts.get(transform_job_name, Script())
        )
    return job


def describe_transform_job(self, transform_job_name: str):
    _advance(self, transform_job_name)
    return _original["describe_transform_job"](self, transform_job_name)


def stop_transform_job(self, transform_job_name: str) -> None:
    _advance(self, transform_job_name)
    job = self.transform_jobs.get(transform_job_name)
    if job is None:
        arn = sm_models.FakeTransformJob.arn_formatter(transform_job_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find transform job '{arn}'.")
    if job.transform_job_status != "InProgress":
        raise ValidationError(
            message=f"The transform job {transform_job_name} is {job.transform_job_status}; "
            "it cannot be stopped."
        )
    with STATE.lock:
        STATE.runs[transform_job_name].stopping_since = time.monotonic()
        job.transform_job_status = "Stopping"


def _advance(self, name: str) -> None:
    with STATE.lock:
        run = STATE.runs.get(name)
        job = self.transform_jobs.get(name)
        if run is None or job is None or run.done:
            return
        now = time.monotonic()
        if job.transform_start_time is None:
            job.transform_start_time = sm_models.utcnow()
        if run.stopping_since is not None:
            if now - run.stopping_since >= DELAY:
                job.transform_job_status = "Stopped"
                _finish(job, run)
            return
        if now - run.started < DELAY:
            return
        if run.script.outcome == "fail":
            job.transform_job_status = "Failed"
            job.failure_reason = run.script.reason
        else:
            _write_outputs(self, job, run)
            job.transform_job_status = "Completed"
        _finish(job, run)


def _write_outputs(self, job, run: _Run) -> None:
    bucket, prefix, keys = _inputs(self, job.transform_input["DataSource"]["S3DataSource"]["S3Uri"])
    out_bucket, _, out_prefix = job.transform_output["S3OutputPath"][len("s3://") :].partition("/")
    storage = _s3(self)
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    for key in keys:
        data = storage.get_object(bucket, key).value
        relative = key[len(folder) :]
        storage.put_object(
            out_bucket,
            "/".join(p for p in (out_prefix.strip("/"), relative) if p) + ".out",
            run.script.answer(data),
        )


def _finish(job, run: _Run) -> None:
    job.transform_end_time = sm_models.utcnow()
    job.last_modified_time = job.transform_end_time
    run.done = True


def _stop_transform_job_response(self) -> ActionResult:
    self.sagemaker_backend.stop_transform_job(self._get_param("TransformJobName"))
    return ActionResult({})


_PATCHED = False


def install() -> None:
    """Patch moto's SageMaker backend and responses (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    Backend.create_transform_job = create_transform_job
    Backend.describe_transform_job = describe_transform_job
    Backend.stop_transform_job = stop_transform_job
    SageMakerResponse.stop_transform_job = _stop_transform_job_response
    _PATCHED = True
