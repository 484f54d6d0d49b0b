"""The pure parts of the training commands: arguments, the SDK's hyperparameters, the /opt/ml documents
of each host, and the archives of a job.

Cited: SageMaker Python SDK 2.x sagemaker/estimator.py (_json_encode_hyperparameters); the Developer
Guide's "How Amazon SageMaker Provides Training Information"
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html);
API_CreateTrainingJob (HyperParameters: at most 100, keys 256 and values 2500 characters).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from deploy import tarballs
from deploy.aws.plan import training as job_request
from deploy.local import opt_ml
from deploy.training_inputs import (
    Channel,
    InputError,
    parse_channels,
    parse_hyperparameters,
    script_mode_hyperparameters,
)


def test_hyperparameters_are_what_a_python_caller_would_pass() -> None:
    values = parse_hyperparameters(
        ["max_iter=200", "lr=0.1", "solver=adam", "flag=true", "ids=[1, 2]", "empty="]
    )
    assert values == {"max_iter": 200, "lr": 0.1, "solver": "adam", "flag": True, "ids": [1, 2], "empty": ""}
    encoded = script_mode_hyperparameters(
        values, program="train.py", submit_directory="/opt/ml/code", job_name="j", region="r"
    )
    assert encoded["max_iter"] == "200" and encoded["solver"] == '"adam"' and encoded["flag"] == "true"
    assert encoded["sagemaker_program"] == '"train.py"' and encoded["sagemaker_container_log_level"] == "20"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["novalue"], "expected NAME=VALUE"),
        (["a=1", "a=2"], "given twice"),
        ([f'k="{"x" * 2600}"'], "values at most 2500"),
        ([f"k{i}=1" for i in range(100)], "at most 100"),
    ],
)
def test_hyperparameters_that_a_job_refuses(items: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        script_mode_hyperparameters(
            parse_hyperparameters(items), program="t.py", submit_directory="d", job_name="j", region="r"
        )


def test_channels_and_job_names() -> None:
    assert parse_channels(["train=s3://b/p/", "test=/data"]) == [
        Channel("train", "s3://b/p/"),
        Channel("test", "/data"),
    ]
    for bad in (["train"], ["a/b=x"], ["t=x", "t=y"]):
        with pytest.raises(InputError):
            parse_channels(bad)
    assert job_request.validate_job_name("iris-1") == "iris-1"
    for bad in ("-iris", "iris_1", "x" * 64):
        with pytest.raises(InputError):
            job_request.validate_job_name(bad)
    assert job_request.source_key("s3://bucket/jobs/", "j") == ("bucket", "jobs/j/source/sourcedir.tar.gz")
    assert job_request.source_key("s3://bucket", "j") == ("bucket", "j/source/sourcedir.tar.gz")


def test_each_host_gets_its_own_resource_config(tmp_path: Path) -> None:
    source = tmp_path / "code"
    source.mkdir()
    (source / "train.py").write_text("")
    data = tmp_path / "iris.csv"
    data.write_text("0,1,2,3,4\n")
    hosts = opt_ml.hosts(2)
    staged = opt_ml.stage(
        tmp_path / "in", "algo-2", hosts, {"a": '"b"'}, [Channel("train", str(data))], source
    )
    config = staged / "input" / "config"
    resources = json.loads((config / "resourceconfig.json").read_text())
    assert resources["current_host"] == "algo-2" and resources["hosts"] == ["algo-1", "algo-2"]
    assert resources["instance_groups"][0]["hosts"] == ["algo-1", "algo-2"]
    assert json.loads((config / "inputdataconfig.json").read_text())["train"]["TrainingInputMode"] == "File"
    assert json.loads((config / "hyperparameters.json").read_text()) == {"a": '"b"'}
    assert (staged / "input" / "data" / "train" / "iris.csv").read_text() == "0,1,2,3,4\n"
    assert (staged / "code" / "train.py").is_file() and (staged / "model").is_dir()


def test_archives_are_deterministic(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub" / "__pycache__").mkdir(parents=True)
    (model / "b.txt").write_text("b")
    (model / "sub" / "a.txt").write_text("a")
    (model / "sub" / "__pycache__" / "x.pyc").write_text("x")
    tarballs.pack(model, tmp_path / "one.tar.gz", skip=tarballs.SKIPPED)
    (model / "b.txt").touch()  # a newer time changes nothing
    tarballs.pack(model, tmp_path / "two.tar.gz", skip=tarballs.SKIPPED)
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "one.tar.gz") as archive:
        assert archive.getnames() == ["b.txt", "sub", "sub/a.txt"]
        assert {member.uid for member in archive.getmembers()} == {0}
