"""Request building for SageMaker and Application Auto Scaling: pure functions, no AWS calls.

Everything a command sends is built here from its arguments (and, for an update, from what the
endpoint runs now), so it can be checked without AWS: the I/O modules only pass these on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy.names import DEFAULT_VARIANT, ENDPOINT_TAG, scaling_resource_id

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"


class PlanError(ValueError):
    """Arguments that cannot make a valid request; the message says which and why."""


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    """["K=V", ...] -> {"K": "V"}; the value may contain "=" and be empty, the name may not."""
    env: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise PlanError(f"--env {pair!r}: expected NAME=VALUE with a shell-style variable name")
        env[name] = value
    if len(env) > 100:
        raise PlanError(f"{len(env)} environment variables; SageMaker allows at most 100")
    return env


def tags(endpoint: str) -> list[dict[str, str]]:
    return [{"Key": ENDPOINT_TAG, "Value": endpoint}]


def model_request(
    name: str, *, endpoint: str, image: str, model_data: str | None, role: str, env: dict[str, str]
) -> dict:
    """create_model's arguments: one container, its image, model data and environment."""
    if not role.startswith("arn:"):
        raise PlanError(f"--role {role!r}: the execution role must be an IAM role ARN (arn:aws:iam::...)")
    container: dict = {"Image": image, "Mode": "SingleModel"}
    if model_data:
        container["ModelDataUrl"] = model_data
    if env:
        container["Environment"] = dict(env)
    return {
        "ModelName": name,
        "PrimaryContainer": container,
        "ExecutionRoleArn": role,
        "Tags": tags(endpoint),
    }


@dataclass(frozen=True)
class Capacity:
    """How a variant runs: instances (type and count), or serverless (memory and concurrency)."""

    instance_type: str | None = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    serverless_memory_mb: int | None = None
    serverless_concurrency: int | None = None

    @property
    def serverless(self) -> bool:
        return self.serverless_memory_mb is not None

    def validate(self) -> Capacity:
        if (self.serverless_memory_mb is None) != (self.serverless_concurrency is None):
            raise PlanError("serverless needs both --serverless-memory and --serverless-concurrency")
        if self.serverless:
            if self.serverless_memory_mb not in SERVERLESS_MEMORY_MB:
                raise PlanError(
                    f"--serverless-memory {self.serverless_memory_mb}: one of "
                    + ", ".join(map(str, SERVERLESS_MEMORY_MB))
                    + " MB"
                )
            if not 1 <= int(self.serverless_concurrency or 0) <= SERVERLESS_MAX_CONCURRENCY:
                raise PlanError(
                    f"--serverless-concurrency {self.serverless_concurrency}: "
                    f"1 to {SERVERLESS_MAX_CONCURRENCY}"
                )
            return self
        if self.instance_count < 1:
            raise PlanError(f"--instance-count {self.instance_count}: at least 1")
        if not self.instance_type or not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", self.instance_type):
            raise PlanError(f"--instance-type {self.instance_type!r}: a SageMaker type such as ml.m5.large")
        return self


def endpoint_config_request(
    name: str,
    *,
    endpoint: str,
    model_name: str,
    capacity: Capacity,
    variant: str = DEFAULT_VARIANT,
    data_capture_s3: str | None = None,
    data_capture_percent: int = 100,
) -> dict:
    """create_endpoint_config's arguments: one variant taking all traffic, optional data capture."""
    capacity.validate()
    production_variant: dict = {"VariantName": variant, "ModelName": model_name, "InitialVariantWeight": 1.0}
    if capacity.serverless:
        production_variant["ServerlessConfig"] = {
            "MemorySizeInMB": capacity.serverless_memory_mb,
            "MaxConcurrency": capacity.serverless_concurrency,
        }
    else:
        production_variant["InstanceType"] = capacity.instance_type
        production_variant["InitialInstanceCount"] = capacity.instance_count
    request: dict = {
        "EndpointConfigName": name,
        "ProductionVariants": [production_variant],
        "Tags": tags(endpoint),
    }
    if data_capture_s3:
        if not data_capture_s3.startswith("s3://"):
            raise PlanError(f"--data-capture {data_capture_s3!r}: an s3:// prefix")
        if not 0 < data_capture_percent <= 100:
            raise PlanError(f"--data-capture-percent {data_capture_percent}: 1 to 100")
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": data_capture_percent,
            "DestinationS3Uri": data_capture_s3,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    return request


def capacity_from_variant(variant: dict, *, instance_count: int | None = None) -> Capacity:
    """The Capacity of an endpoint config's production variant (for an update that keeps it)."""
    serverless = variant.get("ServerlessConfig")
    if serverless:
        return Capacity(
            instance_type=None,
            serverless_memory_mb=serverless["MemorySizeInMB"],
            serverless_concurrency=serverless["MaxConcurrency"],
        )
    return Capacity(
        instance_type=variant.get("InstanceType"),
        instance_count=instance_count or variant.get("InitialInstanceCount") or 1,
    )


def deployment_config(
    strategy: str,
    *,
    percent: int = 10,
    wait_seconds: int = 300,
    alarms: list[str] | None = None,
    termination_wait_seconds: int = 0,
) -> dict | None:
    """UpdateEndpoint's DeploymentConfig: blue/green with all-at-once, canary or linear shifting.

    None for "all-at-once" without alarms: SageMaker's default blue/green. `percent` is the canary
    size, or the linear step; `alarms` are CloudWatch alarm names that roll the update back.
    """
    if strategy not in ("all-at-once", "canary", "linear"):
        raise PlanError(f"--traffic {strategy!r}: all-at-once, canary or linear")
    if not 1 <= percent <= 99:
        raise PlanError(f"--traffic-percent {percent}: 1 to 99")
    if wait_seconds < 0 or wait_seconds > 3600:
        raise PlanError(f"--traffic-wait {wait_seconds}: 0 to 3600 seconds")
    if strategy == "all-at-once" and not alarms:
        return None
    routing: dict = {"Type": strategy.upper().replace("-", "_"), "WaitIntervalInSeconds": wait_seconds}
    if strategy == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": percent}
    elif strategy == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": percent}
    config: dict = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": termination_wait_seconds,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return config


@dataclass(frozen=True)
class Scaling:
    min_capacity: int
    max_capacity: int
    target_invocations: float
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60

    def validate(self) -> Scaling:
        if self.min_capacity < 1:
            raise PlanError(f"--min {self.min_capacity}: at least 1 instance")
        if self.max_capacity < self.min_capacity:
            raise PlanError(f"--max {self.max_capacity} is below --min {self.min_capacity}")
        if self.target_invocations <= 0:
            raise PlanError(
                f"--target-invocations {self.target_invocations}: "
                "invocations per instance per minute, above 0"
            )
        if self.scale_in_cooldown < 0 or self.scale_out_cooldown < 0:
            raise PlanError("cooldowns are seconds, 0 or more")
        return self


def policy_name(endpoint: str, variant: str) -> str:
    return f"byoc-{endpoint}-{variant}-invocations"


def scalable_target_request(endpoint: str, variant: str, scaling: Scaling) -> dict:
    scaling.validate()
    return {
        "ServiceNamespace": "sagemaker",
        "ResourceId": scaling_resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity": scaling.min_capacity,
        "MaxCapacity": scaling.max_capacity,
    }


def scaling_policy_request(endpoint: str, variant: str, scaling: Scaling) -> dict:
    scaling.validate()
    return {
        "PolicyName": policy_name(endpoint, variant),
        "ServiceNamespace": "sagemaker",
        "ResourceId": scaling_resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(scaling.target_invocations),
            "PredefinedMetricSpecification": {"PredefinedMetricType": INVOCATIONS_METRIC},
            "ScaleInCooldown": scaling.scale_in_cooldown,
            "ScaleOutCooldown": scaling.scale_out_cooldown,
        },
    }


def scaling_from_aws(target: dict, policies: list[dict]) -> Scaling | None:
    """The Scaling that a registered target and its target-tracking policy describe (None if none)."""
    for policy in policies:
        config = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
        metric = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
        if metric == INVOCATIONS_METRIC:
            return Scaling(
                min_capacity=target["MinCapacity"],
                max_capacity=target["MaxCapacity"],
                target_invocations=config["TargetValue"],
                scale_in_cooldown=config.get("ScaleInCooldown", 300),
                scale_out_cooldown=config.get("ScaleOutCooldown", 60),
            )
    return None


def instance_type_changes(old_variant: dict, new_capacity: Capacity) -> bool:
    """UpdateEndpoint refuses these for a variant registered with auto scaling."""
    return (
        bool(old_variant.get("InstanceType"))
        and old_variant.get("InstanceType") != new_capacity.instance_type
    )
