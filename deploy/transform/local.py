"""`byoc local transform`: a batch transform job on this machine, in Docker containers.

The containers are started as SageMaker starts a transform job's: `docker run --network host IMAGE
serve`, the model at /opt/ml/model (read-only), the job's environment (SAGEMAKER_BATCH=true, and
the batching variables the command set; deploy.transform.settings), each on its own loopback port.
Once every one answers /ping, the engine (deploy.transform.engine) sends the records; the containers
and the extracted model are removed at the end, whatever happened (Ctrl-C and SIGTERM included).

One difference from SageMaker, on purpose: SageMaker gives each instance whole files (one file
never uses more than one instance); here every file's requests are shared by all the containers,
so a single large file is as fast as its containers allow. The outputs are the same either way.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from container.archives.extraction import ArchiveError, safe_extract
from container.serving.server_process import LOOPBACK, free_port
from deploy.local import docker
from deploy.transform import layout
from deploy.transform.engine import DEFAULT_INVOCATION_TIMEOUT, DEFAULT_MAX_RETRIES, Summary, run_transform
from deploy.transform.progress import Progress, duration
from deploy.transform.settings import TransformSettings

RUN_LABEL = f"{docker.LABEL}.transform"
PING_EVERY_SECONDS = 0.25
PROGRESS_EVERY_SECONDS = 5.0

Say = Callable[[str], None]


class LocalTransformError(RuntimeError):
    """A failure to report as is: the message says what to do."""


@dataclass
class Job:
    image: str
    model_data: Path
    source: Path
    output: Path
    settings: TransformSettings
    instances: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    startup_timeout: float = 300.0
    invocation_timeout: float = DEFAULT_INVOCATION_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    keep_going: bool = False
    placeholder: str = "ERROR"


def run(job: Job, say: Say, progress_enabled: bool = True) -> Summary:
    """Check everything that can be checked first, then start the containers, transform, clean up."""
    job.settings.check()
    files = layout.input_files(job.source)
    layout.check_output(job.source, job.output)
    problem = docker.available()
    if problem:
        raise LocalTransformError(f"a local transform needs a Docker engine: {problem}")
    if docker.docker("image", "inspect", job.image, check=False, timeout=30).returncode != 0:
        raise LocalTransformError(
            f"image {job.image!r} is not on this machine: "
            "build it first (docker build --network host -t IMAGE .)"
        )
    run_id = secrets.token_hex(6)
    containers: list[str] = []
    with tempfile.TemporaryDirectory(prefix="byoc-transform-") as work:
        try:
            model_dir = _model_dir(job.model_data, Path(work) / "model", say)
            urls = _start(job, model_dir, run_id, containers, say)
            _wait_healthy(containers, urls, job.startup_timeout, say)
            total = sum(file.size for file in files)
            say(f"{len(files)} file(s), {total:,} bytes, from {job.source} to {job.output}")
            progress = Progress(total, len(files), enabled=progress_enabled)
            try:
                return asyncio.run(
                    run_transform(
                        urls,
                        job.settings,
                        files,
                        job.output,
                        progress=progress,
                        invocation_timeout=job.invocation_timeout,
                        max_retries=job.max_retries,
                        keep_going=job.keep_going,
                        placeholder=job.placeholder,
                        say=say,
                    )
                )
            finally:
                progress.finish()
        finally:
            # By label too: an interrupt may come between `docker run` and the list.
            labelled = docker.labelled({RUN_LABEL: run_id})  # short ids
            leftovers = containers + [c for c in labelled if not any(f.startswith(c) for f in containers)]
            if leftovers:
                say(f"removing {len(leftovers)} container(s)")
                docker.remove(sorted(leftovers))


def _model_dir(model_data: Path, destination: Path, say: Say) -> Path:
    if model_data.is_dir():
        return model_data.resolve()
    if not model_data.is_file():
        raise LocalTransformError(f"--model-data {model_data}: no such file or directory")
    say(f"extracting {model_data}")
    try:
        safe_extract(model_data, destination)
    except (ArchiveError, OSError) as exc:
        raise LocalTransformError(f"{model_data} cannot be used: {exc}") from None
    os.chmod(destination, 0o755)  # readable by the container's user
    return destination


def _start(job: Job, model_dir: Path, run_id: str, containers: list[str], say: Say) -> list[str]:
    env = job.settings.container_environment(job.env)
    urls = []
    for index in range(job.instances):
        port = free_port()
        arguments = docker.run_command(
            job.image,
            name=f"byoc-transform-{run_id}-{index + 1}",
            model_dir=str(model_dir),
            port=port,
            env=env,
            labels={docker.LABEL: "1", RUN_LABEL: run_id},
        )
        containers.append(docker.run(arguments))
        urls.append(f"http://{LOOPBACK}:{port}")
        say(f"started instance {index + 1}/{job.instances}: container {containers[-1][:12]} on port {port}")
    return urls


def _wait_healthy(containers: list[str], urls: list[str], timeout: float, say: Say) -> None:
    began = time.monotonic()
    pending = dict(zip(containers, urls, strict=True))
    last: dict[str, str] = {}
    next_note = began + PROGRESS_EVERY_SECONDS
    with httpx.Client(timeout=2, trust_env=False) as http:
        while pending:
            for container, url in list(pending.items()):
                try:
                    response = http.get(f"{url}/ping")
                    if response.status_code == 200:
                        del pending[container]
                        continue
                    last[container] = f"/ping answered {response.status_code}: {response.text[:300]}"
                except httpx.HTTPError as exc:
                    last[container] = f"/ping: {exc!r}"
                running, status = docker.running(container)
                if not running:
                    raise LocalTransformError(
                        f"container {container[:12]} exited (status {status}) before /ping answered 200. "
                        f"Its log ends with:\n{docker.log_tail(container)}"
                    )
            if not pending:
                break
            now = time.monotonic()
            if now - began > timeout:
                details = "\n\n".join(
                    f"container {c[:12]}: last {last.get(c, 'no answer')}; "
                    f"its log ends with:\n{docker.log_tail(c)}"
                    for c in pending
                )
                count = f"{len(pending)} of {len(containers)}"
                raise LocalTransformError(f"{count} containers not healthy after {timeout:g} s\n{details}")
            if now >= next_note:
                say(f"waiting for /ping: {len(containers) - len(pending)}/{len(containers)} healthy")
                next_note = now + PROGRESS_EVERY_SECONDS
            time.sleep(PING_EVERY_SECONDS)
    say(f"{len(containers)} instance(s) healthy ({time.monotonic() - began:.1f} s)")


def report(summary: Summary, instances: int, say: Say) -> int:
    """The summary lines, and the exit status: 0 done, 1 a file failed, 3 records marked (--keep-going)."""
    rate = summary.records / summary.seconds if summary.seconds > 0 else 0.0
    say(
        f"{len(summary.results)} file(s), {summary.records:,} records in {summary.requests:,} request(s), "
        f"{duration(summary.seconds)} ({rate:,.0f} records/s) on {instances} instance(s)"
    )
    done = [result for result in summary.results if result.ok]
    if done:
        say(f"output: {len(done)} file(s) in {summary.output_dir}")
    for result in summary.failed:
        say(f"FAILED {result.failure} (no {result.output.name} written)")
    if summary.marked:
        say(f"{len(summary.marked)} record(s) failed and were marked in the output (--keep-going)")
    if summary.failures_path is not None:
        say(f"every failure is listed in {summary.failures_path}")
    if summary.failed:
        return 1
    return 3 if summary.marked else 0


def stderr_say(message: str) -> None:
    print(f"byoc local transform: {message}", file=sys.stderr, flush=True)
