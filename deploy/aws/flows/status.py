"""`byoc status`: an endpoint's state, and per variant its model, capacity and auto scaling."""

from __future__ import annotations

from deploy.aws.clients.session import Aws
from deploy.aws.output import complain, say
from deploy.aws.plan.scaling import scaling_from_aws
from deploy.tables import text_table


def run(aws: Aws, endpoint: str) -> int:
    described = aws.sagemaker.describe_endpoint(endpoint)
    if described is None:
        complain("status", f"endpoint {endpoint} does not exist")
        return 1
    say(f"endpoint {endpoint}: {described['EndpointStatus']}")
    if described.get("FailureReason"):
        say(f"failure reason: {described['FailureReason']}")
    say(f"config: {described['EndpointConfigName']}")
    config = aws.sagemaker.describe_endpoint_config(described["EndpointConfigName"]) or {}
    configured = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
    rows = []
    for variant in described.get("ProductionVariants", []):
        name = variant["VariantName"]
        wanted = configured.get(name, {})
        rows.append(
            [
                name,
                wanted.get("ModelName", "?"),
                _kind(wanted),
                variant.get("CurrentInstanceCount"),
                variant.get("DesiredInstanceCount"),
                variant.get("CurrentWeight"),
                _scaling(aws, endpoint, name),
            ]
        )
    say(text_table(["variant", "model", "type", "instances", "desired", "weight", "auto scaling"], rows))
    return 0


def _kind(variant: dict) -> str:
    serverless = variant.get("ServerlessConfig")
    if serverless:
        return f"serverless {serverless['MemorySizeInMB']} MB x{serverless['MaxConcurrency']}"
    return variant.get("InstanceType", "?")


def _scaling(aws: Aws, endpoint: str, variant: str) -> str:
    registered = aws.autoscaling.registered(endpoint, variant)
    if registered is None:
        return "-"
    scaling = scaling_from_aws(*registered)
    if scaling is None:
        return "registered, no invocations policy"
    return f"{scaling.min_capacity}-{scaling.max_capacity}, target {scaling.target_invocations:g}/min"
