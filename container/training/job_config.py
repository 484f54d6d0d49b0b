"""The job's settings from /opt/ml/input/config into a typed TrainingEnv. Parsing is pure; `read`
only loads the three files.

The files, as the SageMaker Developer Guide describes them ("How Amazon SageMaker Provides Training
Information", https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html):
  hyperparameters.json   the job's HyperParameters: a JSON object of strings
  inputdataconfig.json   one object per channel (TrainingInputMode, ContentType, ...)
  resourceconfig.json    current_host, hosts, network_interface_name (and, from the service today,
                         current_instance_type, current_group_name, instance_groups)
Defaults for what a file leaves out are those of AWS's training toolkit
(src/sagemaker_training/environment.py, Environment.__init__).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container.config import TrainingConfig
from container.training import hyperparameters as hp

HYPERPARAMETERS_FILE = "hyperparameters.json"
INPUT_DATA_CONFIG_FILE = "inputdataconfig.json"
RESOURCE_CONFIG_FILE = "resourceconfig.json"
# API_Channel: ChannelName is 1 to 64 of [A-Za-z0-9.-_].
CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,64}")
DEFAULT_HOST = "algo-1"
DEFAULT_GROUP = "homogeneousCluster"


class JobConfigError(ValueError):
    """A config file is missing where it must not be, is not JSON, or holds the wrong shape."""


@dataclass(frozen=True)
class Paths:
    """The /opt/ml layout (rooted elsewhere by SAGEMAKER_BASE_DIR)."""

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def intermediate_dir(self) -> Path:
        return self.root / "output" / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def success_file(self) -> Path:
        return self.root / "output" / "success"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    def channel(self, name: str) -> Path:
        return self.data_dir / name


@dataclass(frozen=True)
class JobFiles:
    """The three files' parsed JSON; None for a file that is absent."""

    hyperparameters: Any = None
    input_data_config: Any = None
    resource_config: Any = None


@dataclass(frozen=True)
class TrainingEnv:
    paths: Paths
    hyperparameters: dict[str, Any]  # the user's, decoded
    toolkit_parameters: dict[str, Any]
    framework_parameters: dict[str, Any]
    program: str | None  # the entry point, e.g. train.py
    submit_directory: str  # where the code is, as given (SM_MODULE_DIR)
    channels: dict[str, dict[str, Any]]  # name -> its inputdataconfig entry
    current_host: str
    hosts: list[str]
    network_interface_name: str
    current_instance_type: str
    current_group: str
    instance_groups: list[dict[str, Any]]
    resource_config: dict[str, Any]
    log_level: int
    job_name: str
    region: str
    framework_module: str | None

    @property
    def module_name(self) -> str | None:
        """The program without .py (SM_MODULE_NAME), as the toolkit's _parse_module_name does."""
        if self.program and self.program.endswith(".py"):
            return self.program[:-3]
        return self.program


def read(paths: Paths) -> JobFiles:
    """Load the three files that exist; JobConfigError names a file that is not JSON."""
    return JobFiles(
        hyperparameters=_load(paths.config_dir / HYPERPARAMETERS_FILE),
        input_data_config=_load(paths.config_dir / INPUT_DATA_CONFIG_FILE),
        resource_config=_load(paths.config_dir / RESOURCE_CONFIG_FILE),
    )


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JobConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise JobConfigError(f"{path} is not valid JSON: {exc}") from None


def parse(files: JobFiles, config: TrainingConfig, default_region: str = "") -> TrainingEnv:
    """The TrainingEnv of these files and settings (pure)."""
    raw_hps = _object(files.hyperparameters, HYPERPARAMETERS_FILE)
    split = hp.split(hp.decode(raw_hps))
    channels = _channels(_object(files.input_data_config, INPUT_DATA_CONFIG_FILE))
    resources = _object(files.resource_config, RESOURCE_CONFIG_FILE)
    current_host = _text(resources.get("current_host", DEFAULT_HOST), "current_host")
    hosts = resources.get("hosts", [current_host])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts) or not hosts:
        raise JobConfigError(f"{RESOURCE_CONFIG_FILE}: hosts must be a list of host names, not {hosts!r}")
    groups = resources.get("instance_groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise JobConfigError(f"{RESOURCE_CONFIG_FILE}: instance_groups must be a list of objects")
    toolkit = split.toolkit
    # SAGEMAKER_PROGRAM wins over the hyperparameter, as in the toolkit (Environment.__init__); the
    # submit directory comes from the hyperparameter, then SAGEMAKER_SUBMIT_DIRECTORY, then /opt/ml/code.
    program = config.program or _optional_text(toolkit.get(hp.PROGRAM), hp.PROGRAM)
    submit = _optional_text(toolkit.get(hp.SUBMIT_DIRECTORY), hp.SUBMIT_DIRECTORY)
    if submit is None:
        submit = config.submit_directory.uri if config.submit_directory else str(config.ml_dir / "code")
    return TrainingEnv(
        paths=Paths(config.ml_dir),
        hyperparameters=split.user,
        toolkit_parameters=toolkit,
        framework_parameters=split.framework,
        program=program,
        submit_directory=submit,
        channels=channels,
        current_host=current_host,
        hosts=sorted(hosts),
        network_interface_name=_setting(resources, "network_interface_name", "eth0"),
        current_instance_type=_setting(resources, "current_instance_type", "local"),
        current_group=_setting(resources, "current_group_name", DEFAULT_GROUP),
        instance_groups=groups,
        resource_config=resources,
        log_level=_log_level(toolkit.get(hp.LOG_LEVEL), config.log_level),
        job_name=config.job_name,
        region=_optional_text(toolkit.get(hp.REGION), hp.REGION) or default_region,
        framework_module=config.framework_module,
    )


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise JobConfigError(f"{name} must hold a JSON object, not {type(value).__name__}")
    return value


def _channels(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for name, entry in config.items():
        if not CHANNEL_NAME.fullmatch(name):
            raise JobConfigError(
                f"{INPUT_DATA_CONFIG_FILE}: channel name {name!r} is not 1 to 64 of A-Z a-z 0-9 . - _"
            )
        if not isinstance(entry, dict):
            raise JobConfigError(f"{INPUT_DATA_CONFIG_FILE}: channel {name!r} must be an object")
    return dict(config)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise JobConfigError(f"{RESOURCE_CONFIG_FILE}: {name} must be a non-empty string, not {value!r}")
    return value


def _setting(resources: dict[str, Any], name: str, default: str) -> str:
    return _text(resources.get(name, default), name)


def _optional_text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise JobConfigError(f"the hyperparameter {name} must be a string, not {value!r}")
    return value


def _log_level(value: Any, from_environment: int | None) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if from_environment is not None:
        return from_environment
    return logging.INFO
