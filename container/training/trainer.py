"""`train`: what the image does for `docker run IMAGE train`, a SageMaker training job in script mode.

In order, as AWS's training toolkit does for its framework containers
(aws/sagemaker-training-toolkit, src/sagemaker_training/trainer.py train and entry_point.run):
read /opt/ml/input/config; fetch the code named by sagemaker_submit_directory (an S3 sourcedir.tar.gz,
file://, or a directory); install its requirements.txt; run the entry point with the SM_* variables
and the user's hyperparameters as `--name value` arguments; then leave /opt/ml/output/success and
exit 0, or /opt/ml/output/failure with the reason and exit non-zero.

Deliberate differences from the toolkit: the code named is always fetched (the toolkit skips the
download when /opt/ml/code holds anything), into a private directory; an archive is opened with the
safe extraction; SIGTERM reaches the script (container.training.process); the failure file holds the
exception's type and message rather than a traceback (which goes to the log); the script's own
non-zero exit status is passed on instead of always 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from container.archives import code_source
from container.config import ConfigError, TrainingConfig, load_training_config, training_ml_dir
from container.contract import user_code
from container.errors import StartupError
from container.telemetry.logs import configure_logging
from container.training import entry_point, job_config, outcome, process, sm_environment
from container.training import hyperparameters as hp
from container.training.job_config import Paths, TrainingEnv

log = logging.getLogger(__name__)

# What stops a job before its script runs; each message says what was wrong.
SETUP_ERRORS = (
    job_config.JobConfigError,
    code_source.CodeSourceError,
    code_source.CodeFetchError,
    entry_point.EntryPointError,
    StartupError,
)


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="train",
        description="Run a SageMaker training job in script mode, as `docker run IMAGE train` does: the "
        "job's settings from /opt/ml/input/config (or SAGEMAKER_BASE_DIR), the model written to "
        "/opt/ml/model, the outcome in /opt/ml/output/success or /opt/ml/output/failure.",
    )


class Stopped(Exception):
    """SIGTERM or SIGINT arrived before the script was running (while fetching or installing)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} before the script started")
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signum)


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    configure_logging(logging.INFO)
    # As the container's first process, `train` would ignore a SIGTERM it has no handler for: stop
    # now during set-up; while the script runs, container.training.process passes signals on.
    for signum in process.FORWARDED:
        signal.signal(signum, _stop)
    try:
        config = load_training_config()
    except ConfigError as exc:
        outcome.fail(Paths(training_ml_dir()).failure_file, str(exc))
        return 1
    try:
        return train(config)
    except Stopped as exc:  # after the script ended, while recording its outcome
        return 128 + exc.signum


def train(config: TrainingConfig) -> int:
    """Run the job the config and /opt/ml describe; the exit status."""
    paths = Paths(config.ml_dir)
    # Downloads, the extracted code and the script's reason file: removed whatever happens.
    scratch = Path(tempfile.mkdtemp(prefix="byoc-train-"))
    try:
        return _train(config, paths, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train(config: TrainingConfig, paths: Paths, scratch: Path) -> int:
    try:
        for directory in (paths.model_dir, paths.output_data_dir):
            directory.mkdir(parents=True, exist_ok=True)
        env = job_config.parse(job_config.read(paths), config, default_region=config.region)
        # sagemaker_container_log_level, else SAGEMAKER_CONTAINER_LOG_LEVEL, else INFO (job_config).
        logging.getLogger().setLevel(env.log_level)
        entry_point.require(env.program)  # before fetching code that could not be run anyway
        code_dir = fetch_code(env, config, scratch)
        entry = entry_point.resolve(env.program, code_dir)
        install(entry, code_dir)
        reason_file = scratch / "reason"
        user_args = hp.to_cmd_args(env.hyperparameters)
        command = entry_point.command(entry, user_args, reason_file)
        shown = ["python", entry.name, *user_args] if entry.is_python else command
        log.info("running %s in %s", shlex.join(shown), code_dir)
        result = process.run(
            command, env=script_environment(env, user_args, code_dir), cwd=code_dir,
            grace_seconds=config.stop_grace_seconds,
        )  # fmt: skip
    except SETUP_ERRORS as exc:
        outcome.fail(paths.failure_file, str(exc))
        return 1
    except Stopped as exc:
        outcome.fail(paths.failure_file, str(exc))
        return 128 + exc.signum
    except Exception as exc:
        log.exception("the training toolkit failed")
        outcome.fail(paths.failure_file, f"the training toolkit failed: {type(exc).__name__}: {exc}")
        return 1
    return finish(result, entry, paths, reason_file)


def fetch_code(env: TrainingEnv, config: TrainingConfig, scratch: Path) -> Path:
    source = code_source.parse(env.submit_directory)
    code_dir = code_source.fetch(source, config.archive_limits, workdir=scratch)
    log.info("code: %s%s", code_dir, "" if code_dir == source.path else f" (from {source.uri})")
    return code_dir


def install(entry: entry_point.EntryPoint, code_dir: Path) -> None:
    if entry.kind == entry_point.PACKAGE:
        user_code.install_package(code_dir)
    else:
        user_code.install_requirements(code_dir)


def script_environment(env: TrainingEnv, user_args: list[str], code_dir: Path) -> dict[str, str]:
    """This process's environment, the SM_* variables, and what the toolkit also sets for the script."""
    python_path = [str(code_dir), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **os.environ,
        **sm_environment.build(env, user_args, num_cpus=os.cpu_count() or 1, num_gpus=count_gpus()),
        # Environment.__init__ in the toolkit sets these three for the script too.
        "SAGEMAKER_JOB_NAME": str(env.toolkit_parameters.get(hp.JOB_NAME) or ""),
        "CURRENT_HOST": env.current_host,
        "SAGEMAKER_REGION": env.region,
        "PYTHONPATH": os.pathsep.join(python_path),
        "PYTHONUNBUFFERED": "1",
    }


def finish(result: process.Outcome, entry: entry_point.EntryPoint, paths: Paths, reason_file: Path) -> int:
    if result.ok:
        outcome.succeed(paths.success_file)
        files = sum(1 for path in paths.model_dir.rglob("*") if path.is_file())
        log.info("training finished: %d file(s) in %s make the model", files, paths.model_dir)
        return 0
    outcome.fail(paths.failure_file, failure_reason(result, entry, reason_file))
    if result.returncode > 0:
        return result.returncode
    return 128 + (-result.returncode or signal.SIGKILL)


def failure_reason(result: process.Outcome, entry: entry_point.EntryPoint, reason_file: Path) -> str:
    """Why the script failed, in the words a person needs first."""
    stopped = f"{signal.Signals(result.stop_signal).name}" if result.stop_signal else ""
    if result.killed_after_grace:
        return f"{entry.name} did not stop within the grace period after {stopped} and was killed"
    try:
        recorded = reason_file.read_text(encoding="utf-8").strip()
    except OSError:
        recorded = ""
    if recorded:
        return recorded
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        cause = f" after this container received {stopped}" if stopped else ""
        return f"{entry.name} was stopped by {name}{cause}"
    return f"{entry.name} exited with status {result.returncode}"


def count_gpus() -> int:
    """GPUs as the toolkit counts them (environment.num_gpus): `nvidia-smi --list-gpus` lines."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listed.splitlines() if line.startswith("GPU "))


if __name__ == "__main__":
    sys.exit(main())
