"""`byoc delete`: an endpoint and everything byoc made for it (configs, models, auto scaling)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from deploy.aws.clients.session import Aws
from deploy.aws.errors import UsageError
from deploy.aws.flows.model_config import remove
from deploy.aws.output import say


@dataclass(frozen=True)
class DeleteRequest:
    endpoint: str
    confirmed: bool = False  # --yes: do not ask
    keep_models: bool = False


def run(aws: Aws, request: DeleteRequest) -> int:
    endpoint = request.endpoint
    described = aws.sagemaker.describe_endpoint(endpoint)
    configs = _configs(aws, endpoint, described)
    models = [] if request.keep_models else _models(aws, endpoint, configs)
    variants = [v["VariantName"] for v in (described or {}).get("ProductionVariants", [])]
    if described is None and not configs and not models:
        say(f"nothing to delete: no endpoint {endpoint}, and no configs or models of it")
        return 0
    say(f"endpoint: {endpoint if described else '(gone)'}")
    say(f"endpoint configs: {', '.join(configs) or '-'}")
    say(f"models: {', '.join(models) or '-'}")
    if not request.confirmed and not _confirm(endpoint):
        say("not deleted")
        return 1
    for variant in variants:
        if aws.autoscaling.deregister(endpoint, variant):
            say(f"deregistered auto scaling of {variant}")
    if described is not None and aws.sagemaker.delete("endpoint", endpoint):
        say(f"deleted endpoint {endpoint}")
    remove(aws, configs, models)
    return 0


def _configs(aws: Aws, endpoint: str, described: dict | None) -> list[str]:
    """The configs byoc made for the endpoint, and the one it runs (made by byoc or not)."""
    configs = aws.sagemaker.owned_configs(endpoint)
    current = (described or {}).get("EndpointConfigName")
    if current and current not in configs:
        configs.insert(0, current)
    return configs


def _models(aws: Aws, endpoint: str, configs: list[str]) -> list[str]:
    """The models those configs name, and the ones byoc made for the endpoint that none names."""
    models: list[str] = []
    for config_name in configs:
        config = aws.sagemaker.describe_endpoint_config(config_name) or {}
        models += [
            v["ModelName"] for v in config.get("ProductionVariants", []) if v["ModelName"] not in models
        ]
    return models + [m for m in aws.sagemaker.owned_models(endpoint) if m not in models]


def _confirm(endpoint: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("not a terminal to confirm on: pass --yes")
    answer = input(f"delete these? type the endpoint name ({endpoint}) to confirm: ")
    return answer.strip() == endpoint
