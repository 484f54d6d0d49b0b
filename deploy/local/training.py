"""A training job on this machine: the image's `train` in one container per host, /opt/ml as SageMaker
lays it out, and the job's model.tar.gz and output.tar.gz afterwards.

Each container is created (`docker create`, host networking, as every container here), given its
/opt/ml by `docker cp` (so nothing of this machine is mounted into it and every file it writes is
copied back owned by the caller), started attached so its log streams here, and copied back from
when it ends. Ctrl-C stops the containers as StopTrainingJob does: SIGTERM (`docker stop`), and
SIGKILL 120 s later.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy import tarballs
from deploy.local import opt_ml
from deploy.training_inputs import Channel

LABEL = "byoc-train"
STOP_SECONDS = 120  # SageMaker's SIGTERM-to-SIGKILL window
DOCKER_TIMEOUT = 300


class LocalJobError(RuntimeError):
    """Docker could not run the job (not: the job failed)."""


@dataclass(frozen=True)
class LocalJob:
    name: str
    image: str
    source_dir: Path
    hyperparameters: Mapping[str, str]
    channels: Sequence[Channel]
    output_dir: Path
    instance_count: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalResult:
    exit_codes: dict[str, int]
    failures: dict[str, str]  # host -> its /opt/ml/output/failure
    model: Path | None = None
    output: Path | None = None
    model_files: int = 0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(code == 0 for code in self.exit_codes.values())


def run(job: LocalJob, say: Callable[[str], None]) -> LocalResult:
    job.output_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".byoc-train-", dir=job.output_dir))
    all_hosts = opt_ml.hosts(job.instance_count)
    containers: dict[str, str] = {}
    try:
        for host in all_hosts:
            staged = opt_ml.stage(
                work / "in", host, all_hosts, job.hyperparameters, job.channels, job.source_dir
            )
            containers[host] = _create(job, host, all_hosts)
            _docker("cp", f"{staged}/.", f"{containers[host]}:/opt/ml")
        say(f"job {job.name}: {len(all_hosts)} container(s) of {job.image} running `train`; the log follows")
        started = time.monotonic()
        interrupted = _start_and_wait(list(containers.values()), say)
        codes = {host: _exit_code(container) for host, container in containers.items()}
        say(f"job {job.name}: containers ended after {time.monotonic() - started:.1f} s, exit {codes}")
        for host, container in containers.items():
            (work / "out" / host).mkdir(parents=True)
            _docker("cp", f"{container}:/opt/ml/model", str(work / "out" / host / "model"))
            _docker("cp", f"{container}:/opt/ml/output", str(work / "out" / host / "output"))
        failures = {
            host: path.read_text(errors="replace")
            for host in all_hosts
            if (path := work / "out" / host / "output" / "failure").is_file()
        }
        if interrupted or any(codes.values()):
            return LocalResult(codes, failures, interrupted=interrupted)
        return _package(job, work, all_hosts, codes)
    finally:
        for container in containers.values():
            _docker("rm", "-f", "-v", container, check=False)
        shutil.rmtree(work, ignore_errors=True)


def _create(job: LocalJob, host: str, all_hosts: Sequence[str]) -> str:
    arguments = ["create", "--name", f"byoc-train-{job.name}-{host}", "--network", "host"]
    arguments += ["--label", f"{LABEL}=1", "--label", f"{LABEL}.job={job.name}", "--hostname", host]
    for other in all_hosts:  # every host's name resolves (to this machine: host networking)
        arguments += ["--add-host", f"{other}:127.0.0.1"]
    for key, value in {"TRAINING_JOB_NAME": job.name, **job.environment}.items():
        arguments += ["-e", f"{key}={value}"]
    return _docker(*arguments, job.image, "train").stdout.strip()


def _start_and_wait(containers: list[str], say: Callable[[str], None]) -> bool:
    """Start every container attached (their logs stream here); True if Ctrl-C stopped them."""
    # Sessions of their own: Ctrl-C reaches this process only, which stops the job as AWS would.
    processes = [
        subprocess.Popen(["docker", "start", "--attach", container], start_new_session=True)
        for container in containers
    ]
    try:
        for process in processes:
            process.wait()
        return False
    except KeyboardInterrupt:
        say(
            f"interrupted: stopping the job as StopTrainingJob does (SIGTERM, SIGKILL after {STOP_SECONDS} s)"
        )
        for container in containers:
            _docker("stop", "--time", str(STOP_SECONDS), container, check=False, timeout=STOP_SECONDS + 60)
        for process in processes:
            process.wait()
        return True


def _exit_code(container: str) -> int:
    return int(_docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout.strip())


def _package(job: LocalJob, work: Path, all_hosts: Sequence[str], codes: dict[str, int]) -> LocalResult:
    # SageMaker merges the hosts' /opt/ml/model into one model.tar.gz (and output/data likewise).
    merged_model = work / "merged" / "model"
    merged_data = work / "merged" / "data"
    for host in all_hosts:
        shutil.copytree(work / "out" / host / "model", merged_model, dirs_exist_ok=True)
        data = work / "out" / host / "output" / "data"
        if data.is_dir():
            shutil.copytree(data, merged_data, dirs_exist_ok=True)
    merged_data.mkdir(parents=True, exist_ok=True)
    model = job.output_dir / "model.tar.gz"
    output = job.output_dir / "output.tar.gz"
    files = tarballs.pack(merged_model, model)
    tarballs.pack(merged_data, output)
    return LocalResult(codes, {}, model=model, output=output, model_files=files)


def _docker(
    *args: str, check: bool = True, timeout: float = DOCKER_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise LocalJobError("the docker command is not installed") from None
    except subprocess.TimeoutExpired:
        raise LocalJobError(f"docker {args[0]} did not finish within {timeout:g} s") from None
    if check and result.returncode != 0:
        raise LocalJobError(f"docker {' '.join(args[:2])} failed: {(result.stderr or result.stdout).strip()}")
    return result
