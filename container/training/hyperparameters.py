"""Hyperparameters as AWS's training toolkit reads them: decoded, split, and turned into arguments.

Pure functions. The facts, from aws/sagemaker-training-toolkit (src/sagemaker_training/):
  - environment.read_hyperparameters: every value is json.loads-ed, and kept as the raw string when
    that fails. The SageMaker Python SDK JSON-encodes its values ('"train.py"', '20'); boto3 and
    console users send plain strings ('0.1', 'adam'), which stay strings unless they read as JSON.
  - mapping.split_by_criteria with params.SAGEMAKER_PREFIX and params.SAGEMAKER_HYPERPARAMETERS: the
    toolkit's own keys are removed from the user's; the sagemaker_* keys it does not know become the
    framework parameters.
  - mapping.to_cmd_args: sorted keys, `--key value` (`-k` for a one-letter key), values as str(),
    mappings as `k=v,k2=v2`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SAGEMAKER_PREFIX = "sagemaker_"
PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
LOG_LEVEL = "sagemaker_container_log_level"
JOB_NAME = "sagemaker_job_name"
REGION = "sagemaker_region"
S3_OUTPUT = "sagemaker_s3_output"
# params.SAGEMAKER_HYPERPARAMETERS: two of them lack the prefix but are the toolkit's all the same.
TOOLKIT_KEYS = frozenset(
    {
        PROGRAM,
        SUBMIT_DIRECTORY,
        "sagemaker_enable_cloudwatch_metrics",
        REGION,
        LOG_LEVEL,
        JOB_NAME,
        "default_user_module_name",
        "_tuning_objective_metric",
        S3_OUTPUT,
    }
)


@dataclass(frozen=True)
class Split:
    user: dict[str, Any]  # what the script gets as arguments and SM_HP_*
    toolkit: dict[str, Any]  # every sagemaker_* key (and the two unprefixed toolkit keys)
    framework: dict[str, Any]  # the sagemaker_* keys the toolkit does not know (SM_FRAMEWORK_PARAMS)


def decode(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Each value JSON-decoded where it is JSON, else kept as it is."""
    decoded = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value) if isinstance(value, str | bytes) else value
        except ValueError:
            decoded[key] = value
    return decoded


def split(decoded: Mapping[str, Any]) -> Split:
    toolkit = {k: v for k, v in decoded.items() if k in TOOLKIT_KEYS or k.startswith(SAGEMAKER_PREFIX)}
    user = {k: v for k, v in decoded.items() if k not in toolkit}
    framework = {k: v for k, v in toolkit.items() if k not in TOOLKIT_KEYS}
    return Split(user=user, toolkit=toolkit, framework=framework)


def to_cmd_args(user: Mapping[str, Any]) -> list[str]:
    """The script's arguments: `--name value` per hyperparameter, names sorted."""
    args: list[str] = []
    for key in sorted(user):
        name = _text(key)
        args.append(f"--{name}" if len(name) > 1 else f"-{name}")
        args.append(_value(user[key]))
    return args


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return _text(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return str(value)
