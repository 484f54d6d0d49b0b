"""/opt/ml for a training container, as SageMaker lays it out: the config documents (pure) and a
staging directory holding them, the channels' files and the code, ready to copy into the container.

Shapes, from the SageMaker Developer Guide, "How Amazon SageMaker Provides Training Information"
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html):
input/config/hyperparameters.json (the HyperParameters map), inputdataconfig.json (per channel:
TrainingInputMode, S3DistributionType, RecordWrapperType), resourceconfig.json (current_host,
hosts, network_interface_name, and what the service adds today: current_instance_type,
current_group_name, instance_groups), input/data/<channel>/ with the channel's files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deploy.training_inputs import Channel, InputError

GROUP = "homogeneousCluster"
INSTANCE_TYPE = "local"


def hosts(count: int) -> list[str]:
    return [f"algo-{index}" for index in range(1, count + 1)]


def resource_config(current_host: str, all_hosts: Sequence[str]) -> dict[str, Any]:
    return {
        "current_host": current_host,
        "current_instance_type": INSTANCE_TYPE,
        "current_group_name": GROUP,
        "hosts": list(all_hosts),
        "instance_groups": [
            {"instance_group_name": GROUP, "instance_type": INSTANCE_TYPE, "hosts": list(all_hosts)}
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(channels: Sequence[Channel]) -> dict[str, Any]:
    entry = {
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    return {channel.name: dict(entry) for channel in channels}


def stage(
    root: Path,
    host: str,
    all_hosts: Sequence[str],
    hyperparameters: Mapping[str, str],
    channels: Sequence[Channel],
    source_dir: Path,
) -> Path:
    """root/<host>/ holding what goes to that container's /opt/ml; its path."""
    staged = root / host
    config = staged / "input" / "config"
    config.mkdir(parents=True)
    documents = {
        "hyperparameters.json": dict(hyperparameters),
        "inputdataconfig.json": input_data_config(channels),
        "resourceconfig.json": resource_config(host, all_hosts),
    }
    for name, document in documents.items():
        (config / name).write_text(json.dumps(document, indent=2) + "\n")
    for channel in channels:
        _copy_channel(channel, staged / "input" / "data" / channel.name)
    for directory in ("model", "output/data"):
        (staged / directory).mkdir(parents=True)
    shutil.copytree(source_dir, staged / "code", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    return staged


def _copy_channel(channel: Channel, target: Path) -> None:
    source = Path(channel.location)
    if channel.location.startswith("s3://"):
        raise InputError(
            f"--channel {channel.name}: byoc local train reads local files; got {channel.location}"
        )
    if source.is_dir():
        shutil.copytree(source, target)
    elif source.is_file():
        target.mkdir(parents=True)
        shutil.copy2(source, target / source.name)
    else:
        raise InputError(f"--channel {channel.name}={channel.location}: no such file or directory")
