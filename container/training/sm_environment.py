"""The SM_* variables a training script reads, built from a TrainingEnv. Pure.

As AWS's training toolkit builds them (src/sagemaker_training/environment.py,
Environment.to_env_vars, and mapping.to_env_vars; the list is the toolkit's ENVIRONMENT_VARIABLES.md):
every name is "SM_" + the key upper-cased; a string value is passed as it is, None as "", and any
other value as compact JSON with sorted keys (so 10, true, ["train"], {"a":1}).
"""

from __future__ import annotations

import json
from typing import Any

from container.training.job_config import TrainingEnv


def build(
    env: TrainingEnv, user_args: list[str], *, num_cpus: int, num_gpus: int, num_neurons: int = 0
) -> dict[str, str]:
    """Every SM_* variable of the toolkit for this job."""
    paths = env.paths
    groups = {group.get("instance_group_name"): group for group in env.instance_groups}
    current_group_hosts = groups.get(env.current_group, {}).get("hosts", [])
    distribution_groups = env.framework_parameters.get("sagemaker_distribution_instance_groups", [])
    channel_dirs = {name: str(paths.channel(name)) for name in env.channels}
    values: dict[str, Any] = {
        "hosts": env.hosts,
        "network_interface_name": env.network_interface_name,
        "hps": env.hyperparameters,
        "user_entry_point": env.program,
        "framework_params": env.framework_parameters,
        "resource_config": env.resource_config,
        "input_data_config": env.channels,
        "output_data_dir": str(paths.output_data_dir),
        "channels": sorted(env.channels),
        "current_host": env.current_host,
        "current_instance_type": env.current_instance_type,
        "current_instance_group": env.current_group,
        "current_instance_group_hosts": current_group_hosts,
        "instance_groups": list(groups),
        "instance_groups_dict": groups,
        "distribution_instance_groups": distribution_groups,
        "is_hetero": len(groups) > 1,
        "module_name": env.module_name,
        "log_level": env.log_level,
        "framework_module": env.framework_module,
        "input_dir": str(paths.input_dir),
        "input_config_dir": str(paths.config_dir),
        "output_dir": str(paths.output_dir),
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "num_neurons": num_neurons,
        "model_dir": str(paths.model_dir),
        "module_dir": env.submit_directory,
        "user_args": user_args,
        "output_intermediate_dir": str(paths.intermediate_dir),
    }
    values["training_env"] = _training_env(env, values, channel_dirs)
    for name, path in channel_dirs.items():
        values[f"channel_{name}"] = path
    for key, value in env.hyperparameters.items():
        values[f"hp_{key}"] = value
    return {f"SM_{key.upper()}": _format(value) for key, value in values.items()}


def _training_env(env: TrainingEnv, values: dict[str, Any], channel_dirs: dict[str, str]) -> dict[str, Any]:
    # SM_TRAINING_ENV: the toolkit's Environment as a dict of its properties (mapping.MappingMixin).
    document = {
        key: values[key]
        for key in (
            "current_host", "current_instance_type", "current_instance_group",
            "current_instance_group_hosts", "distribution_instance_groups", "framework_module", "hosts",
            "input_config_dir", "input_data_config", "input_dir", "instance_groups",
            "instance_groups_dict", "is_hetero", "log_level", "model_dir", "module_dir", "module_name",
            "network_interface_name", "num_cpus", "num_gpus", "num_neurons", "output_data_dir",
            "output_dir", "output_intermediate_dir", "resource_config", "user_entry_point",
        )
    }  # fmt: skip
    hosts = env.hosts
    document.update(
        additional_framework_parameters=env.framework_parameters,
        channel_input_dirs=channel_dirs,
        hyperparameters=env.hyperparameters,
        job_name=env.job_name,
        master_hostname=hosts[0],
        is_master=env.current_host == hosts[0],
        distribution_hosts=hosts,
    )
    return document


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin1")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
