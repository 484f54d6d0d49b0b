"""Application Auto Scaling of endpoint variants: read, register and deregister a variant's scaling."""

from __future__ import annotations

from botocore.exceptions import ClientError

from deploy.aws.clients.botocore_errors import error_message
from deploy.aws.errors import AwsError
from deploy.aws.plan.scaling import SCALABLE_DIMENSION, resource_id


class AutoScaling:
    def __init__(self, client) -> None:
        self.client = client

    def registered(self, endpoint: str, variant: str) -> tuple[dict, list[dict]] | None:
        """(scalable target, its policies) of a variant, or None when it is not registered."""
        resource = resource_id(endpoint, variant)
        targets = self.client.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[resource], ScalableDimension=SCALABLE_DIMENSION
        ).get("ScalableTargets", [])
        if not targets:
            return None
        policies = self.client.describe_scaling_policies(
            ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION
        ).get("ScalingPolicies", [])
        return targets[0], policies

    def register(self, target_request: dict, policy_request: dict) -> str:
        """Register the scalable target and put its policy; the policy's ARN."""
        try:
            self.client.register_scalable_target(**target_request)
            answer = self.client.put_scaling_policy(**policy_request)
        except ClientError as exc:
            raise AwsError(f"auto scaling: {error_message(exc)}") from exc
        return answer.get("PolicyARN", "")

    def put_policy(self, policy_request: dict) -> str:
        """Put one more policy on a registered target; its ARN."""
        try:
            return self.client.put_scaling_policy(**policy_request).get("PolicyARN", "")
        except ClientError as exc:
            raise AwsError(f"auto scaling: {error_message(exc)}") from exc

    def deregister(self, endpoint: str, variant: str) -> bool:
        """Remove a variant's policies and scalable target; False when none was registered."""
        registered = self.registered(endpoint, variant)
        if registered is None:
            return False
        resource = resource_id(endpoint, variant)
        try:
            for policy in registered[1]:
                self.client.delete_scaling_policy(
                    PolicyName=policy["PolicyName"],
                    ServiceNamespace="sagemaker",
                    ResourceId=resource,
                    ScalableDimension=SCALABLE_DIMENSION,
                )
            self.client.deregister_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION
            )
        except ClientError as exc:
            raise AwsError(f"auto scaling: {error_message(exc)}") from exc
        return True
