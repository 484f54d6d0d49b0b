"""`byoc update`: a new model behind an endpoint without downtime (SageMaker's blue/green).

The new model and config are made from the current ones where the request leaves a value out
(image, role, capacity, data capture; the environment is merged). UpdateEndpoint refuses to change
the instance type of a variant under auto scaling, so its scaling is deregistered around such an
update and registered again afterwards. Once the endpoint is InService on the new config, the old
model and config are deleted (--keep-old keeps them); a roll-back deletes the new ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from deploy.aws.clients.session import Aws
from deploy.aws.errors import AwsError, UsageError
from deploy.aws.flows import autoscale
from deploy.aws.flows.model_config import ModelSource, check_image, create_model_and_config, remove
from deploy.aws.output import complain, say
from deploy.aws.plan.endpoints import Capacity, Traffic, capacity_from_variant, instance_type_changes
from deploy.aws.plan.scaling import Scaling, scaling_from_aws
from deploy.aws.waiters import Waiting, interpret_update, watch_endpoint


@dataclass(frozen=True)
class UpdateRequest:
    endpoint: str
    model: ModelSource  # image and role None: the current model's
    instance_type: str | None = None  # None: the current one
    instance_count: int | None = None  # None: the current count
    traffic: Traffic = field(default_factory=Traffic)
    keep_old: bool = False
    waiting: Waiting = field(default_factory=Waiting)


def run(aws: Aws, request: UpdateRequest) -> int:
    endpoint = request.endpoint
    deployment = request.traffic.deployment_config()
    current = aws.sagemaker.describe_endpoint(endpoint)
    if current is None:
        raise UsageError(f"endpoint {endpoint} does not exist; `byoc deploy` creates it")
    if current["EndpointStatus"] == "Failed":
        raise UsageError(
            f"endpoint {endpoint} is Failed ({current.get('FailureReason') or 'no reason given'}); SageMaker "
            f"cannot update a Failed endpoint: `byoc delete {endpoint}`, then `byoc deploy` again"
        )
    if current["EndpointStatus"] != "InService":
        raise UsageError(f"endpoint {endpoint} is {current['EndpointStatus']}; an update needs it InService")
    old_config_name = current["EndpointConfigName"]
    old_config = aws.sagemaker.describe_endpoint_config(old_config_name)
    if old_config is None:
        raise AwsError(f"the endpoint's config {old_config_name} is gone; `byoc delete` and deploy again")
    variants = old_config["ProductionVariants"]
    if len(variants) != 1:
        raise UsageError(
            f"endpoint {endpoint} has {len(variants)} variants; byoc updates one-variant endpoints"
        )
    old_variant = variants[0]
    variant = old_variant["VariantName"]
    old_model_name = old_variant["ModelName"]
    old_model = aws.sagemaker.describe_model(old_model_name) or {}
    running = {v["VariantName"]: v for v in current.get("ProductionVariants", [])}.get(variant, {})

    capacity = _capacity(request, old_variant, running)
    model = _model(request.model, old_model_name, old_model)
    if request.model.image and request.model.check_image:
        check_image(aws, request.model.image)
    created = create_model_and_config(
        aws,
        endpoint,
        model,
        capacity=capacity,
        variant=variant,
        data_capture=old_config.get("DataCaptureConfig"),
        # An async endpoint stays one: its queue, outputs and notifications carry over.
        async_inference=old_config.get("AsyncInferenceConfig"),
    )
    saved_scaling = None
    if instance_type_changes(old_variant, capacity):
        saved_scaling = _suspend_scaling(aws, endpoint, variant)

    say(
        f"updating endpoint {endpoint}: {old_config_name} -> {created.config_name} "
        f"(blue/green, {request.traffic.describe()})"
    )
    try:
        aws.sagemaker.update_endpoint(endpoint, created.config_name, deployment)
    except AwsError:
        _restore_scaling(aws, endpoint, variant, saved_scaling)
        remove(aws, [created.config_name], [created.model_name])
        raise
    if not request.waiting.enabled:
        if saved_scaling:
            say("note: auto scaling was deregistered; run `byoc autoscale` again once the update is done")
        say(f"not waiting: `byoc status {endpoint}` shows when it is InService on {created.config_name}")
        return 0
    try:
        outcome = watch_endpoint(
            aws,
            endpoint,
            lambda described: interpret_update(described, created.config_name, old_config_name),
            request.waiting,
        )
    finally:
        _restore_scaling(aws, endpoint, variant, saved_scaling)
    if not outcome.ok:
        complain("update", outcome.message)
        if outcome.status == "RolledBack" and not request.keep_old:
            remove(aws, [created.config_name], [created.model_name])
        return 1
    say(f"endpoint {endpoint} is InService on {created.config_name}")
    if not request.keep_old:
        remove(aws, [old_config_name], [old_model_name])
    return 0


def _capacity(request: UpdateRequest, old_variant: dict, running: dict) -> Capacity:
    """The current capacity, with the request's instance count and type where it gives them."""
    capacity = capacity_from_variant(
        old_variant, instance_count=request.instance_count or running.get("CurrentInstanceCount")
    )
    if request.instance_type:
        if capacity.serverless:
            raise UsageError("--instance-type on a serverless endpoint: deploy a new endpoint instead")
        capacity = Capacity(instance_type=request.instance_type, instance_count=capacity.instance_count)
    return capacity.validate()


def _model(requested: ModelSource, old_model_name: str, old_model: dict) -> ModelSource:
    """The new model: the request's values, the current model's where the request has none."""
    old_container = old_model.get("PrimaryContainer", {})
    model = replace(
        requested,
        image=requested.image or old_container.get("Image"),
        role=requested.role or old_model.get("ExecutionRoleArn"),
        env={**old_container.get("Environment", {}), **requested.env},
    )
    if not model.image or not model.role:
        raise UsageError(f"the current model {old_model_name} is gone: pass --image and --role")
    return model


def _suspend_scaling(aws: Aws, endpoint: str, variant: str) -> Scaling | None:
    registered = aws.autoscaling.registered(endpoint, variant)
    if registered is None:
        return None
    saved = scaling_from_aws(*registered)
    say(f"deregistering auto scaling of {variant} around the instance type change")
    aws.autoscaling.deregister(endpoint, variant)
    return saved


def _restore_scaling(aws: Aws, endpoint: str, variant: str, scaling: Scaling | None) -> None:
    if scaling is None:
        return
    say(
        f"registering auto scaling of {variant} again "
        f"({scaling.min_capacity}-{scaling.max_capacity} instances)"
    )
    autoscale.register(aws, endpoint, variant, scaling)
