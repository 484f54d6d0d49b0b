"""`byoc autoscale`: target-tracking auto scaling of an endpoint variant, or its removal.

`run_async` scales an asynchronous endpoint on its queue (ApproximateBacklogSizePerInstance), down
to zero instances when --min is 0, with the step policy and CloudWatch alarm that start one instance
again when requests wait (deploy.aws.plan.async_scaling).
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.aws.clients.session import Aws
from deploy.aws.errors import UsageError
from deploy.aws.output import say
from deploy.aws.plan import async_scaling
from deploy.aws.plan.async_scaling import BacklogScaling
from deploy.aws.plan.scaling import Scaling, policy_name, scalable_target_request, scaling_policy_request


@dataclass(frozen=True)
class AutoscaleRequest:
    endpoint: str
    scaling: Scaling
    variant: str | None = None  # default: the endpoint's only variant


@dataclass(frozen=True)
class AsyncAutoscaleRequest:
    endpoint: str
    scaling: BacklogScaling
    variant: str | None = None


@dataclass(frozen=True)
class RemoveScalingRequest:
    endpoint: str
    variant: str | None = None  # default: every variant of the endpoint


def run(aws: Aws, request: AutoscaleRequest) -> int:
    endpoint, scaling = request.endpoint, request.scaling
    variant = single_variant(aws, endpoint, request.variant)
    config = aws.sagemaker.describe_endpoint_config(
        aws.sagemaker.describe_endpoint(endpoint)["EndpointConfigName"]
    )
    if any(v.get("ServerlessConfig") for v in (config or {}).get("ProductionVariants", [])):
        raise UsageError(
            "serverless endpoints scale by themselves (MaxConcurrency); no instance auto scaling"
        )
    say(
        f"auto scaling {endpoint}/{variant}: {scaling.min_capacity}-{scaling.max_capacity} instances, "
        f"target {scaling.target_invocations:g} invocations per instance per minute, cooldowns in "
        f"{scaling.scale_in_cooldown} s / out {scaling.scale_out_cooldown} s"
    )
    arn = register(aws, endpoint, variant, scaling)
    say(f"policy {policy_name(endpoint, variant)} {arn}".rstrip())
    return 0


def run_async(aws: Aws, request: AsyncAutoscaleRequest) -> int:
    endpoint, scaling = request.endpoint, request.scaling.check()
    variant = single_variant(aws, endpoint, request.variant)
    described = aws.sagemaker.describe_endpoint(endpoint) or {}
    config = aws.sagemaker.describe_endpoint_config(described.get("EndpointConfigName", "")) or {}
    if not config.get("AsyncInferenceConfig"):
        raise UsageError(
            f"endpoint {endpoint} is not asynchronous (no AsyncInferenceConfig): --async scales on the queue "
            "of an endpoint deployed with --async-output; --target-invocations scales a real-time one"
        )
    say(
        f"auto scaling {endpoint}/{variant} on its queue: {scaling.min_capacity}-{scaling.max_capacity} "
        f"instances, target {scaling.target_backlog_per_instance:g} requests per instance "
        f"(ApproximateBacklogSizePerInstance)"
    )
    arn = aws.autoscaling.register(
        async_scaling.scalable_target_request(endpoint, variant, scaling),
        async_scaling.backlog_policy_request(endpoint, variant, scaling),
    )
    say(f"policy {async_scaling.backlog_policy_name(endpoint, variant)} {arn}".rstrip())
    if scaling.min_capacity == 0:
        # From zero, the backlog policy alone starts an instance only once the backlog exceeds the
        # target: this starts one as soon as a request waits.
        wake_arn = aws.autoscaling.put_policy(
            async_scaling.wake_up_policy_request(endpoint, variant, scaling)
        )
        aws.cloudwatch.put_alarm(async_scaling.wake_up_alarm_request(endpoint, variant, wake_arn))
        say(
            f"scale to zero: policy {async_scaling.wake_up_policy_name(endpoint, variant)} and alarm "
            f"{async_scaling.wake_up_alarm_name(endpoint, variant)} start an instance when requests wait"
        )
    return 0


def remove(aws: Aws, request: RemoveScalingRequest) -> int:
    endpoint = request.endpoint
    if request.variant:
        variants = [request.variant]
    else:
        described = aws.sagemaker.describe_endpoint(endpoint) or {}
        variants = [v["VariantName"] for v in described.get("ProductionVariants", [])]
    for variant in variants:
        if aws.autoscaling.deregister(endpoint, variant):
            say(f"removed auto scaling of {endpoint}/{variant}")
        else:
            say(f"{endpoint}/{variant} had no auto scaling")
        if aws.cloudwatch.delete_alarm(async_scaling.wake_up_alarm_name(endpoint, variant)):
            say(f"removed alarm {async_scaling.wake_up_alarm_name(endpoint, variant)}")
    return 0


def register(aws: Aws, endpoint: str, variant: str, scaling: Scaling) -> str:
    """Register the variant's scalable target and its policy; the policy's ARN."""
    return aws.autoscaling.register(
        scalable_target_request(endpoint, variant, scaling),
        scaling_policy_request(endpoint, variant, scaling),
    )


def single_variant(aws: Aws, endpoint: str, chosen: str | None) -> str:
    """`chosen` if the endpoint has it, else the endpoint's one variant; UsageError otherwise."""
    described = aws.sagemaker.describe_endpoint(endpoint)
    if described is None:
        raise UsageError(f"endpoint {endpoint} does not exist")
    variants = [v["VariantName"] for v in described.get("ProductionVariants", [])]
    if chosen:
        if chosen not in variants:
            raise UsageError(f"--variant {chosen}: the endpoint has {', '.join(variants)}")
        return chosen
    if len(variants) != 1:
        raise UsageError(f"endpoint {endpoint} has variants {', '.join(variants)}: pass --variant")
    return variants[0]
