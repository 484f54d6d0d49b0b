"""`byoc deploy`: a new endpoint (model, endpoint config, endpoint), waited for until InService."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploy.aws.clients.session import Aws
from deploy.aws.errors import UsageError
from deploy.aws.flows import update
from deploy.aws.flows.model_config import ModelSource, check_image, create_model_and_config, from_training_job
from deploy.aws.output import complain, say
from deploy.aws.plan.endpoints import Capacity, DataCapture
from deploy.aws.waiters import Waiting, interpret_create, watch_endpoint
from deploy.sagemaker_names import DEFAULT_VARIANT


@dataclass(frozen=True)
class DeployRequest:
    endpoint: str
    model: ModelSource  # image and role given
    capacity: Capacity
    variant: str = DEFAULT_VARIANT
    data_capture: DataCapture | None = None
    waiting: Waiting = field(default_factory=Waiting)
    # What to do when the endpoint exists: this update (deploy --update), or refuse (None).
    update_instead: update.UpdateRequest | None = None


def run(aws: Aws, request: DeployRequest) -> int:
    endpoint = request.endpoint
    existing = aws.sagemaker.describe_endpoint(endpoint)
    if existing is not None:
        if request.update_instead is None:
            raise UsageError(
                f"endpoint {endpoint} already exists ({existing['EndpointStatus']}); "
                "`byoc update` replaces its model, `byoc deploy --update` does the same"
            )
        return update.run(aws, request.update_instead)

    model = from_training_job(aws, request.model)
    if model.check_image and model.image:
        check_image(aws, model.image)
    created = create_model_and_config(
        aws,
        endpoint,
        model,
        capacity=request.capacity,
        variant=request.variant,
        data_capture=request.data_capture.config() if request.data_capture else None,
    )
    say(f"creating endpoint {endpoint}")
    aws.sagemaker.create_endpoint(endpoint, created.config_name)
    if not request.waiting.enabled:
        say(f"not waiting: `byoc status {endpoint}` shows when it is InService")
        return 0
    outcome = watch_endpoint(aws, endpoint, interpret_create, request.waiting)
    if not outcome.ok:
        complain(
            "deploy",
            f"{outcome.message}\n(the model and config are left for inspection; "
            f"`byoc delete {endpoint}` removes all)",
        )
        return 1
    say(f"endpoint {endpoint} is InService on {created.config_name}")
    return 0
