"""The pure parts of `train`: hyperparameters, /opt/ml/input/config, the SM_* variables, the entry point.

Each expectation is AWS's documented contract or its training toolkit's behaviour, cited per test:
  TK = aws/sagemaker-training-toolkit, src/sagemaker_training/ (and its test/unit/ cases)
  DG = SageMaker Developer Guide, "How Amazon SageMaker Provides Training Information",
       https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from container.archives.code_source import parse
from container.config import TrainingConfig, load_training_config
from container.training import entry_point, job_config, sm_environment
from container.training import hyperparameters as hp
from container.training.job_config import JobConfigError, JobFiles

# What the SageMaker Python SDK 2.x sends for Estimator(entry_point="train.py", source_dir=...,
# hyperparameters={"max_iter": 200, "solver": "lbfgs"}): every value json.dumps-ed
# (sagemaker/estimator.py, EstimatorBase._script_mode_hyperparam_update and
# _json_encode_hyperparameters).
SDK_HYPERPARAMETERS = {
    "max_iter": "200",
    "solver": '"lbfgs"',
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/job-1/source/sourcedir.tar.gz"',
    "sagemaker_container_log_level": "20",
    "sagemaker_job_name": '"job-1"',
    "sagemaker_region": '"us-east-1"',
}
RESOURCE_CONFIG = {  # DG "Distributed Training Configuration", with what the service adds today
    "current_host": "algo-2",
    "hosts": ["algo-2", "algo-1"],
    "network_interface_name": "eth1",
    "current_instance_type": "ml.m5.xlarge",
    "current_group_name": "homogeneousCluster",
    "instance_groups": [
        {
            "instance_group_name": "homogeneousCluster",
            "instance_type": "ml.m5.xlarge",
            "hosts": ["algo-1", "algo-2"],
        }
    ],
}
INPUT_DATA_CONFIG = {  # DG "Input Data Configuration"
    "train": {
        "ContentType": "text/csv",
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
    },
    "validation": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"},
}


def env_of(hps: dict, config: TrainingConfig | None = None, **files) -> job_config.TrainingEnv:
    return job_config.parse(JobFiles(hyperparameters=hps, **files), config or TrainingConfig())


# --- hyperparameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [  # TK environment.read_hyperparameters: json.loads, else the string as it is
        ("10", 10),
        ("0.1", 0.1),
        ('"abc"', "abc"),
        ("abc", "abc"),  # boto3 and console users send plain strings
        ("true", True),
        ("True", "True"),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("", ""),
    ],
)
def test_values_are_json_decoded_where_they_are_json(raw: str, decoded: object) -> None:
    assert hp.decode({"k": raw}) == {"k": decoded}


def test_the_toolkits_keys_are_split_from_the_users() -> None:
    # TK mapping.split_by_criteria with params.SAGEMAKER_HYPERPARAMETERS and SAGEMAKER_PREFIX.
    split = hp.split(
        hp.decode({**SDK_HYPERPARAMETERS, "sagemaker_mpi_enabled": "true", "_tuning_objective_metric": "x"})
    )
    assert split.user == {"max_iter": 200, "solver": "lbfgs"}
    assert split.framework == {"sagemaker_mpi_enabled": True}
    assert "_tuning_objective_metric" in split.toolkit and "sagemaker_program" in split.toolkit


def test_command_line_arguments() -> None:
    # TK mapping.to_cmd_args, and its test/unit/test_mapping.py test_to_cmd_args cases.
    args = hp.to_cmd_args(
        {"n": 1, "truthy": True, "map": {"train": "foo", "eval": "bar"}, "none": None, "lr": 0.1}
    )
    assert args == ["--lr", "0.1", "--map", "eval=bar,train=foo", "-n", "1", "--none", "", "--truthy", "True"]


# --- /opt/ml/input/config -----------------------------------------------------------------------


def test_the_sdks_files_parse() -> None:
    env = env_of(SDK_HYPERPARAMETERS, input_data_config=INPUT_DATA_CONFIG, resource_config=RESOURCE_CONFIG)
    assert env.program == "train.py" and env.module_name == "train"
    assert env.submit_directory == "s3://bucket/job-1/source/sourcedir.tar.gz"
    assert env.hyperparameters == {"max_iter": 200, "solver": "lbfgs"}
    assert env.hosts == ["algo-1", "algo-2"]  # DG: hosts sorted
    assert (env.current_host, env.network_interface_name) == ("algo-2", "eth1")
    assert env.log_level == 20 and env.region == "us-east-1"


def test_defaults_when_files_are_absent() -> None:
    # TK Environment.__init__: current_instance_type "local", current_group_name "homogeneousCluster",
    # network_interface_name "eth0"; the submit directory defaults to /opt/ml/code.
    env = env_of(None)
    assert (env.current_host, env.hosts, env.network_interface_name) == ("algo-1", ["algo-1"], "eth0")
    assert (env.current_instance_type, env.current_group) == ("local", "homogeneousCluster")
    assert env.submit_directory == "/opt/ml/code" and env.program is None and env.channels == {}


def test_sagemaker_program_wins_and_submit_directory_falls_back(tmp_path: Path) -> None:
    # TK Environment.__init__: SAGEMAKER_PROGRAM over the sagemaker_program hyperparameter.
    config = TrainingConfig(program="other.py", submit_directory=parse(str(tmp_path)))
    env = env_of({"sagemaker_program": '"train.py"'}, config)
    assert env.program == "other.py" and env.submit_directory == str(tmp_path)
    config = load_training_config({"SAGEMAKER_SUBMIT_DIRECTORY": str(tmp_path), "SAGEMAKER_BASE_DIR": "/x"})
    assert (
        env_of({"sagemaker_submit_directory": '"s3://b/k.tar.gz"'}, config).submit_directory
        == "s3://b/k.tar.gz"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"hyperparameters": ["a"]}, "hyperparameters.json must hold a JSON object"),
        ({"input_data_config": {"bad/name": {}}}, "channel name 'bad/name'"),
        ({"input_data_config": {"train": "File"}}, "channel 'train' must be an object"),
        ({"resource_config": {"current_host": "algo-1", "hosts": "algo-1"}}, "hosts must be a list"),
        ({"hyperparameters": {"sagemaker_program": "3"}}, "sagemaker_program must be a string"),
    ],
)
def test_wrong_shapes_are_named(files: dict, message: str) -> None:
    with pytest.raises(JobConfigError, match=message):
        job_config.parse(JobFiles(**files), TrainingConfig())


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    paths = job_config.Paths(tmp_path)
    paths.config_dir.mkdir(parents=True)
    (paths.config_dir / "resourceconfig.json").write_text("{not json")
    with pytest.raises(JobConfigError, match=r"resourceconfig\.json is not valid JSON"):
        job_config.read(paths)


# --- SM_* ---------------------------------------------------------------------------------------


def test_sm_variables() -> None:
    # TK environment.Environment.to_env_vars and mapping.to_env_vars (compact JSON, sorted keys);
    # the names are those of TK's ENVIRONMENT_VARIABLES.md.
    env = env_of(SDK_HYPERPARAMETERS, input_data_config=INPUT_DATA_CONFIG, resource_config=RESOURCE_CONFIG)
    args = hp.to_cmd_args(env.hyperparameters)
    sm = sm_environment.build(env, args, num_cpus=4, num_gpus=0)
    assert sm["SM_MODEL_DIR"] == "/opt/ml/model"
    assert sm["SM_CHANNELS"] == '["train","validation"]'
    assert sm["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert sm["SM_CHANNEL_VALIDATION"] == "/opt/ml/input/data/validation"
    assert sm["SM_HPS"] == '{"max_iter":200,"solver":"lbfgs"}'
    assert (sm["SM_HP_MAX_ITER"], sm["SM_HP_SOLVER"]) == ("200", "lbfgs")
    assert sm["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert (sm["SM_OUTPUT_DIR"], sm["SM_INPUT_DIR"]) == ("/opt/ml/output", "/opt/ml/input")
    assert (sm["SM_INPUT_CONFIG_DIR"], sm["SM_OUTPUT_INTERMEDIATE_DIR"]) == (
        "/opt/ml/input/config",
        "/opt/ml/output/intermediate",
    )
    assert (sm["SM_NUM_CPUS"], sm["SM_NUM_GPUS"]) == ("4", "0")
    assert (sm["SM_HOSTS"], sm["SM_CURRENT_HOST"]) == ('["algo-1","algo-2"]', "algo-2")
    assert sm["SM_MODULE_DIR"] == "s3://bucket/job-1/source/sourcedir.tar.gz"
    assert (sm["SM_USER_ENTRY_POINT"], sm["SM_MODULE_NAME"]) == ("train.py", "train")
    assert sm["SM_USER_ARGS"] == '["--max_iter","200","--solver","lbfgs"]'
    assert sm["SM_LOG_LEVEL"] == "20" and sm["SM_FRAMEWORK_PARAMS"] == "{}"
    assert sm["SM_NETWORK_INTERFACE_NAME"] == "eth1" and sm["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.xlarge"
    assert sm["SM_CURRENT_INSTANCE_GROUP_HOSTS"] == '["algo-1","algo-2"]' and sm["SM_IS_HETERO"] == "false"
    assert json.loads(sm["SM_INPUT_DATA_CONFIG"]) == INPUT_DATA_CONFIG
    assert json.loads(sm["SM_RESOURCE_CONFIG"]) == RESOURCE_CONFIG
    training_env = json.loads(sm["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"] == {"max_iter": 200, "solver": "lbfgs"}
    assert training_env["channel_input_dirs"]["train"] == "/opt/ml/input/data/train"
    assert training_env["module_name"] == "train" and training_env["master_hostname"] == "algo-1"


def test_sm_variables_under_another_base_dir(tmp_path: Path) -> None:
    env = env_of({}, TrainingConfig(ml_dir=tmp_path), input_data_config={"train": {}})
    sm = sm_environment.build(env, [], num_cpus=1, num_gpus=0)
    assert sm["SM_CHANNEL_TRAIN"] == str(tmp_path / "input" / "data" / "train")
    assert sm["SM_MODULE_DIR"] == str(tmp_path / "code") and sm["SM_USER_ENTRY_POINT"] == ""


# --- entry point --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "program", "kind"),
    [  # TK _entry_point_type.get
        (["train.py"], "train.py", entry_point.PROGRAM),
        (["run.sh"], "run.sh", entry_point.SHELL),
        (["setup.py", "pkg.py"], "pkg.py", entry_point.PACKAGE),
        (["trainer"], "trainer", entry_point.EXECUTABLE),
    ],
)
def test_entry_point_kinds(tmp_path: Path, files: list[str], program: str, kind: str) -> None:
    for name in files:
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o755)
    assert entry_point.resolve(program, tmp_path).kind == kind


@pytest.mark.parametrize(
    ("program", "message"),
    [
        (None, "no entry point"),
        ("../train.py", "inside the code directory"),
        ("missing.py", "holds: train.py, trainer"),
        ("trainer", "is not executable"),
    ],
)
def test_entry_point_errors(tmp_path: Path, program: str | None, message: str) -> None:
    (tmp_path / "train.py").write_text("")
    (tmp_path / "trainer").write_text("")  # not executable
    with pytest.raises(entry_point.EntryPointError, match=message):
        entry_point.resolve(program, tmp_path)
