"""CreateModel, CreateEndpointConfig and UpdateEndpoint's deployment, from typed values (pure).

https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModel.html,
API_CreateEndpointConfig.html and API_DeploymentConfig.html. A later kind of model (several models
behind one container, a model from a training job) adds its container shape here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from deploy.aws.errors import UsageError
from deploy.aws.plan.naming import tags
from deploy.sagemaker_names import DEFAULT_VARIANT

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
TRAFFIC_STRATEGIES = ("all-at-once", "canary", "linear")


def validate_role(role: str) -> str:
    if not role.startswith("arn:"):
        raise UsageError(f"--role {role!r}: the execution role must be an IAM role ARN (arn:aws:iam::...)")
    return role


def model_request(
    name: str,
    *,
    endpoint: str,
    image: str,
    model_data: str | None,
    role: str,
    env: Mapping[str, str],
    multi_model: bool = False,
    model_cache: str | None = None,
) -> dict:
    """create_model's arguments: one container, its image, model data and environment.

    A multi-model container (Mode MultiModel) takes the S3 prefix of its models as ModelDataUrl,
    and ModelCacheSetting in MultiModelConfig (Enabled, SageMaker's default, or Disabled):
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html
    """
    container: dict = {"Image": image, "Mode": "MultiModel" if multi_model else "SingleModel"}
    if model_data:
        container["ModelDataUrl"] = model_data
    if multi_model and model_cache:
        container["MultiModelConfig"] = {"ModelCacheSetting": model_cache}
    if env:
        container["Environment"] = dict(env)
    return {
        "ModelName": name,
        "PrimaryContainer": container,
        "ExecutionRoleArn": validate_role(role),
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
            raise UsageError("serverless needs both --serverless-memory and --serverless-concurrency")
        if self.serverless:
            if self.serverless_memory_mb not in SERVERLESS_MEMORY_MB:
                raise UsageError(
                    f"--serverless-memory {self.serverless_memory_mb}: one of "
                    + ", ".join(map(str, SERVERLESS_MEMORY_MB))
                    + " MB"
                )
            if not 1 <= int(self.serverless_concurrency or 0) <= SERVERLESS_MAX_CONCURRENCY:
                raise UsageError(
                    f"--serverless-concurrency {self.serverless_concurrency}: "
                    f"1 to {SERVERLESS_MAX_CONCURRENCY}"
                )
            return self
        if self.instance_count < 1:
            raise UsageError(f"--instance-count {self.instance_count}: at least 1")
        if not self.instance_type or not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", self.instance_type):
            raise UsageError(f"--instance-type {self.instance_type!r}: a SageMaker type such as ml.m5.large")
        return self


@dataclass(frozen=True)
class DataCapture:
    """Requests and responses captured into S3 (a share of them, in percent)."""

    s3_uri: str
    percent: int = 100

    def validate(self) -> DataCapture:
        if not self.s3_uri.startswith("s3://"):
            raise UsageError(f"--data-capture {self.s3_uri!r}: an s3:// prefix")
        if not 0 < self.percent <= 100:
            raise UsageError(f"--data-capture-percent {self.percent}: 1 to 100")
        return self

    def config(self) -> dict:
        """CreateEndpointConfig's DataCaptureConfig."""
        self.validate()
        return {
            "EnableCapture": True,
            "InitialSamplingPercentage": self.percent,
            "DestinationS3Uri": self.s3_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }


def endpoint_config_request(
    name: str,
    *,
    endpoint: str,
    model_name: str,
    capacity: Capacity,
    variant: str = DEFAULT_VARIANT,
    data_capture: dict | None = None,
    async_inference: dict | None = None,
) -> dict:
    """create_endpoint_config's arguments: one variant taking all traffic, optional data capture
    (a DataCaptureConfig: DataCapture.config(), or the one an endpoint has now) and asynchronous
    inference (an AsyncInferenceConfig: deploy.async_inference.config, or the endpoint's)."""
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
    if data_capture:
        request["DataCaptureConfig"] = data_capture
    if async_inference:
        # An endpoint with AsyncInferenceConfig serves InvokeEndpointAsync only (API reference).
        if capacity.serverless:
            raise UsageError("asynchronous inference runs on instances, not serverless")
        request["AsyncInferenceConfig"] = async_inference
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


def instance_type_changes(old_variant: dict, new_capacity: Capacity) -> bool:
    """UpdateEndpoint refuses these for a variant registered with auto scaling."""
    return (
        bool(old_variant.get("InstanceType"))
        and old_variant.get("InstanceType") != new_capacity.instance_type
    )


@dataclass(frozen=True)
class Traffic:
    """How an update shifts traffic to the new config: all at once, canary or linear steps."""

    strategy: str = "all-at-once"
    percent: int = 10  # the canary's size, or the linear step
    wait_seconds: int = 300  # between shifts
    alarms: tuple[str, ...] = field(default=())  # CloudWatch alarms that roll the update back

    def validate(self) -> Traffic:
        self.deployment_config()
        return self

    def deployment_config(self) -> dict | None:
        return deployment_config(
            self.strategy, percent=self.percent, wait_seconds=self.wait_seconds, alarms=list(self.alarms)
        )

    def describe(self) -> str:
        return self.strategy + (f" {self.percent}%" if self.strategy != "all-at-once" else "")


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
    if strategy not in TRAFFIC_STRATEGIES:
        raise UsageError(f"--traffic {strategy!r}: all-at-once, canary or linear")
    if not 1 <= percent <= 99:
        raise UsageError(f"--traffic-percent {percent}: 1 to 99")
    if wait_seconds < 0 or wait_seconds > 3600:
        raise UsageError(f"--traffic-wait {wait_seconds}: 0 to 3600 seconds")
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
