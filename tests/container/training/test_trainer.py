"""`train` on a laid-out /opt/ml, natively: what a script gets, what the job leaves, how it fails and stops.

Contract sources (pinned in the tests' comments):
  DG-container  https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html
  DG-output     https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-output.html
  DG-signal     https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-signal-success-failure.html
  DG-docker     https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-dockerfile.html
  TK            aws/sagemaker-training-toolkit src/sagemaker_training/ (named per test)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
from moto_s3 import MotoS3, moto_s3, tar_gz
from training_helpers import PROBE, lay_out, run_train, start_train, stop, wait_for, write_code

from model_artifacts.train import write_training_csv

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CODE = ROOT / "model_artifacts" / "code"


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.mark.parametrize(
    "encoded",
    [
        # The SageMaker Python SDK json.dumps every value (sagemaker/estimator.py,
        # _json_encode_hyperparameters); boto3 and console users send plain strings. TK
        # environment.read_hyperparameters decodes both the same way.
        {
            "max_iter": "200",
            "solver": '"lbfgs"',
            "sagemaker_program": '"train.py"',
            "sagemaker_job_name": '"j"',
        },
        {"max_iter": "200", "solver": "lbfgs", "sagemaker_program": "train.py", "sagemaker_job_name": "j"},
    ],
    ids=["sdk-json-encoded", "plain"],
)
def test_the_script_gets_arguments_and_sm_variables(tmp_path: Path, encoded: dict[str, str]) -> None:
    code = write_code(tmp_path / "code", {"train.py": PROBE})
    job = lay_out(
        tmp_path / "ml",
        {**encoded, "sagemaker_submit_directory": f"file://{code}"},
        channels={"train": {"a.csv": "1,2\n"}, "test": {"b.csv": "3,4\n"}},
    )
    status, log = run_train(job)
    assert status == 0, log
    record = job.record()
    # TK mapping.to_cmd_args: sorted `--name value`, sagemaker_* left out.
    assert record["argv"] == ["--max_iter", "200", "--solver", "lbfgs"]
    assert record["parsed"] == {"max_iter": 200, "solver": "lbfgs"}
    env = record["env"]
    assert env["SM_CHANNELS"] == '["test","train"]'
    assert env["SM_CHANNEL_TRAIN"] == str(job.root / "input" / "data" / "train")
    assert env["SM_MODEL_DIR"] == str(job.model_dir) and env["SM_MODULE_DIR"] == f"file://{code}"
    assert env["SM_HPS"] == '{"max_iter":200,"solver":"lbfgs"}' and env["SM_HP_SOLVER"] == "lbfgs"
    assert (record["cwd"], record["job"], record["host"]) == (
        str(code),
        "j",
        "algo-1",
    )  # TK Environment.__init__
    assert job.success.exists() and not job.failure.exists()  # TK files.write_success_file


def test_the_sample_script_trains_the_sample_model(tmp_path: Path) -> None:
    job = lay_out(
        tmp_path / "ml",
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{SAMPLE_CODE}"',
            "max_iter": "300",
        },
    )
    write_training_csv(job.root / "input" / "data" / "train" / "iris.csv")
    (job.root / "input" / "config" / "inputdataconfig.json").write_text(
        '{"train": {"TrainingInputMode": "File"}}'
    )
    status, log = run_train(job)
    assert status == 0, log
    model = joblib.load(job.model_dir / "model.joblib")
    assert model.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]).tolist() == [0, 2]
    assert "python train.py --max_iter 300" in log


def test_an_exception_is_the_failure_reason_and_the_traceback_is_in_the_log(tmp_path: Path) -> None:
    # DG-signal / DG-output: the reason in /opt/ml/output/failure, a non-zero exit.
    code = write_code(
        tmp_path / "code",
        {"train.py": "def check(n):\n    raise ValueError(f'n must be positive, not {n}')\n\ncheck(-1)\n"},
    )
    job = lay_out(tmp_path / "ml", {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code)})
    status, log = run_train(job)
    assert status == 1
    assert job.failure.read_text() == "ValueError: n must be positive, not -1 (train.py, line 2)"
    assert "Traceback (most recent call last)" in log and "check(-1)" in log
    assert not job.success.exists()


def test_exit_status_and_the_scripts_own_failure_file(tmp_path: Path) -> None:
    code = write_code(
        tmp_path / "code",
        {
            "exits.py": "import sys\nsys.exit(3)\n",
            "writes.py": "import os, sys\n"
            "open(os.environ['SM_OUTPUT_DIR'] + '/failure', 'w').write('mine')\n"
            "sys.exit(1)\n",
        },
    )
    job = lay_out(tmp_path / "a", {"sagemaker_program": "exits.py", "sagemaker_submit_directory": str(code)})
    assert run_train(job)[0] == 3
    assert job.failure.read_text() == "exits.py exited with status 3"
    # TK files.write_failure_file: a failure file the script wrote is kept.
    job = lay_out(tmp_path / "b", {"sagemaker_program": "writes.py", "sagemaker_submit_directory": str(code)})
    assert run_train(job)[0] == 1
    assert job.failure.read_text() == "mine"


def test_code_from_s3_with_requirements(tmp_path: Path, s3: MotoS3) -> None:
    # The SDK uploads source_dir as s3://<bucket>/<job>/source/sourcedir.tar.gz (sagemaker/fw_utils.py,
    # tar_and_upload_dir); TK entry_point.run installs its requirements.txt before running it.
    uri = s3.put(
        "bucket", "job/source/sourcedir.tar.gz", tar_gz({"train.py": PROBE, "requirements.txt": "numpy\n"})
    )
    job = lay_out(
        tmp_path / "ml",
        {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"{uri}"', "max_iter": "5"},
    )
    status, log = run_train(job, s3.env)
    assert status == 0, log
    assert job.record()["parsed"]["max_iter"] == 5
    assert "code: " in log and f"(from {uri})" in log and "installed" in log


@pytest.mark.parametrize(
    ("hyperparameters", "reason"),
    [
        (
            {"sagemaker_submit_directory": '"s3://bucket/none.tar.gz"', "sagemaker_program": '"train.py"'},
            "cannot fetch the code from s3://bucket/none.tar.gz: no such object",
        ),
        ({"sagemaker_submit_directory": "CODE"}, "no entry point: set the sagemaker_program hyperparameter"),
        (
            {"sagemaker_submit_directory": "CODE", "sagemaker_program": "nope.py"},
            "the entry point nope.py is not in",
        ),
        (
            {"sagemaker_submit_directory": "CODE", "sagemaker_program": "train.py", "x": "1"},
            "pip could not install",
        ),
    ],
    ids=["s3-missing", "no-program", "missing-program", "requirements"],
)
def test_setup_failures_are_the_reason(
    tmp_path: Path, s3: MotoS3, hyperparameters: dict, reason: str
) -> None:
    s3.put("bucket", "other", b"")
    code = write_code(
        tmp_path / "code", {"train.py": PROBE, "requirements.txt": f"{tmp_path}/no-such-package\n"}
    )
    hps = {k: v.replace("CODE", str(code)) for k, v in hyperparameters.items()}
    job = lay_out(tmp_path / "ml", hps)
    status, _ = run_train(job, s3.env)
    assert status == 1
    assert job.failure.read_text().startswith(reason), job.failure.read_text()


def test_sigterm_reaches_the_script(tmp_path: Path) -> None:
    # DG-docker: StopTrainingJob sends SIGTERM, then SIGKILL 120 s later. TK forwards nothing; here the
    # script gets it and may save its state and stop.
    script = """
        import os, signal, sys, time
        def stopping(signum, frame):
            open(os.path.join(os.environ["SM_MODEL_DIR"], "checkpoint"), "w").write("saved")
            sys.exit(0)
        signal.signal(signal.SIGTERM, stopping)
        open(os.path.join(os.environ["SM_MODEL_DIR"], "started"), "w").close()
        time.sleep(120)
    """
    code = write_code(tmp_path / "code", {"train.py": script})
    job = lay_out(tmp_path / "ml", {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code)})
    process = start_train(job, tmp_path / "log")
    wait_for(job.model_dir / "started")
    assert stop(process) == 0
    assert (job.model_dir / "checkpoint").read_text() == "saved"
    assert "received SIGTERM: passing it to the script" in (tmp_path / "log").read_text()


def test_a_script_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    script = """
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(os.path.join(os.environ["SM_MODEL_DIR"], "started"), "w").close()
        time.sleep(120)
    """
    code = write_code(tmp_path / "code", {"train.py": script})
    job = lay_out(tmp_path / "ml", {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code)})
    process = start_train(job, tmp_path / "log", {"BYOC_STOP_GRACE_SECONDS": "1"})
    wait_for(job.model_dir / "started")
    assert stop(process) == 128 + 9
    assert (
        job.failure.read_text()
        == "train.py did not stop within the grace period after SIGTERM and was killed"
    )


def test_an_unhandled_sigterm_stops_the_script_and_says_so(tmp_path: Path) -> None:
    script = """
        import os, time
        open(os.path.join(os.environ["SM_MODEL_DIR"], "started"), "w").close()
        time.sleep(120)
    """
    code = write_code(tmp_path / "code", {"train.py": script})
    job = lay_out(tmp_path / "ml", {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code)})
    process = start_train(job, tmp_path / "log")
    wait_for(job.model_dir / "started")
    assert stop(process) == 128 + 15
    assert job.failure.read_text() == "train.py was stopped by SIGTERM after this container received SIGTERM"


def test_sigterm_while_installing_requirements_stops_at_once(tmp_path: Path) -> None:
    # As PID 1 in a container, a process without a SIGTERM handler ignores SIGTERM: `train` handles it
    # during set-up too, so StopTrainingJob never waits for SageMaker's SIGKILL.
    code = write_code(tmp_path / "code", {"train.py": PROBE, "setup.py": "import time\ntime.sleep(120)\n"})
    job = lay_out(tmp_path / "ml", {"sagemaker_program": "train.py", "sagemaker_submit_directory": str(code)})
    log = tmp_path / "log"
    process = start_train(job, log)
    deadline = time.monotonic() + 60
    while "installing the package" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    assert stop(process) == 128 + 15
    assert job.failure.read_text() == "stopped by SIGTERM before the script started"
