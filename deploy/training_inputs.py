"""`--hyperparameter K=V` and `--channel NAME=WHERE`, and the hyperparameters the SageMaker Python SDK
would send for the same Estimator. Pure.

SDK 2.x, Estimator(entry_point=..., source_dir=..., hyperparameters={...}): every value is sent
json.dumps-ed (sagemaker/estimator.py, Estimator.set_hyperparameters with source_dir, and
EstimatorBase._script_mode_hyperparam_update / _json_encode_hyperparameters), together with
sagemaker_program, sagemaker_submit_directory, sagemaker_container_log_level, sagemaker_job_name and
sagemaker_region. A value given on the command line is read as JSON where it is JSON (200, 0.1,
true, [1, 2]) and as a string otherwise (adam), the value a Python caller would have passed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# API_Channel: ChannelName
CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,64}")
# CreateTrainingJob: at most 100 hyperparameters, keys up to 256 and values up to 2500 characters.
MAX_HYPERPARAMETERS = 100
MAX_KEY_CHARS = 256
MAX_VALUE_CHARS = 2500
DEFAULT_LOG_LEVEL = 20


class InputError(ValueError):
    """An argument that cannot make a training job; the message says which and why."""


@dataclass(frozen=True)
class Channel:
    name: str
    location: str  # a local path, or an s3:// prefix


def parse_hyperparameters(items: Iterable[str]) -> dict[str, Any]:
    """K=V items into {K: the value a Python caller would have passed}."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--hyperparameter {item!r}: expected NAME=VALUE")
        if key in values:
            raise InputError(f"--hyperparameter {key} is given twice")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def parse_channels(items: Iterable[str]) -> list[Channel]:
    channels: list[Channel] = []
    for item in items:
        name, sep, location = item.partition("=")
        if not sep or not location:
            raise InputError(f"--channel {item!r}: expected NAME=DIRECTORY, NAME=FILE or NAME=s3://...")
        if not CHANNEL_NAME.fullmatch(name):
            raise InputError(f"--channel {item!r}: a channel name is 1 to 64 of A-Z a-z 0-9 . - _")
        if any(channel.name == name for channel in channels):
            raise InputError(f"--channel {name} is given twice")
        channels.append(Channel(name, location))
    return channels


def script_mode_hyperparameters(
    user: Mapping[str, Any],
    *,
    program: str,
    submit_directory: str,
    job_name: str,
    region: str,
    log_level: int = DEFAULT_LOG_LEVEL,
) -> dict[str, str]:
    """The HyperParameters map the SDK sends for a script-mode Estimator: every value json.dumps-ed."""
    reserved = [key for key in user if key.startswith("sagemaker_")]
    if reserved:
        raise InputError(f"--hyperparameter {reserved[0]}: sagemaker_* names are the toolkit's own")
    toolkit = {
        "sagemaker_program": program,
        "sagemaker_submit_directory": submit_directory,
        "sagemaker_container_log_level": log_level,
        "sagemaker_job_name": job_name,
        "sagemaker_region": region,
    }
    encoded = {key: json.dumps(value) for key, value in {**user, **toolkit}.items()}
    if len(encoded) > MAX_HYPERPARAMETERS:
        raise InputError(
            f"{len(encoded)} hyperparameters; a training job takes at most {MAX_HYPERPARAMETERS}"
        )
    for key, value in encoded.items():
        if len(key) > MAX_KEY_CHARS or len(value) > MAX_VALUE_CHARS:
            raise InputError(
                f"hyperparameter {key[:40]!r}: names take at most {MAX_KEY_CHARS} characters and "
                f"values at most {MAX_VALUE_CHARS}"
            )
    return encoded
