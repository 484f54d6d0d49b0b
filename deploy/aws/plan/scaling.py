"""Application Auto Scaling of an endpoint variant: target tracking on invocations per instance (pure).

https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.aws.errors import UsageError

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"


@dataclass(frozen=True)
class Scaling:
    min_capacity: int
    max_capacity: int
    target_invocations: float  # per instance per minute
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60

    def validate(self) -> Scaling:
        if self.min_capacity < 1:
            raise UsageError(f"--min {self.min_capacity}: at least 1 instance")
        if self.max_capacity < self.min_capacity:
            raise UsageError(f"--max {self.max_capacity} is below --min {self.min_capacity}")
        if self.target_invocations <= 0:
            raise UsageError(
                f"--target-invocations {self.target_invocations}: "
                "invocations per instance per minute, above 0"
            )
        if self.scale_in_cooldown < 0 or self.scale_out_cooldown < 0:
            raise UsageError("cooldowns are seconds, 0 or more")
        return self


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, variant: str) -> str:
    return f"byoc-{endpoint}-{variant}-invocations"


def scalable_target_request(endpoint: str, variant: str, scaling: Scaling) -> dict:
    scaling.validate()
    return target_request(endpoint, variant, scaling.min_capacity, scaling.max_capacity)


def target_request(endpoint: str, variant: str, min_capacity: int, max_capacity: int) -> dict:
    """RegisterScalableTarget for a variant's instance count (real-time and async scaling alike)."""
    return {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id(endpoint, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity": min_capacity,
        "MaxCapacity": max_capacity,
    }


def scaling_policy_request(endpoint: str, variant: str, scaling: Scaling) -> dict:
    scaling.validate()
    return {
        "PolicyName": policy_name(endpoint, variant),
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id(endpoint, variant),
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
