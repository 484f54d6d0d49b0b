"""moto in server mode, extended where it models SageMaker wrongly (test harness, not product code).

What moto 5 gets wrong, and what this module changes (patched into moto's classes, so the
in-process `ThreadedMotoServer` serves it on a loopback port):

* `UpdateEndpoint` is not implemented: added (endpoint must be InService, the config must exist,
  and, as AWS does, it is refused when it changes the instance type of, or removes, a variant
  registered with auto scaling).
* endpoints are InService at once: `Creating` and `Updating` now last `DELAY` seconds, then end
  InService, or `Failed`, or (an update) rolled back: InService on the old config with a
  FailureReason. Per endpoint, `script(name, create=..., update=...)` chooses the outcome.
* a duplicate CreateModel / CreateEndpointConfig / CreateEndpoint overwrote silently: now a
  ValidationException, as AWS answers.
* Application Auto Scaling took SageMaker targets for endpoints that do not exist, and policies
  without a target: both refused now. Deleting an endpoint deregisters its targets, as in AWS.
* transform jobs (CreateTransformJob, DescribeTransformJob, StopTransformJob): moto_transform.py.
* asynchronous endpoints (DescribeEndpoint's AsyncInferenceConfig, InvokeEndpointAsync): moto_async.py.
* InvokeEndpoint answered any endpoint, with or without TargetModel: now a multi-model endpoint
  (its model's container in Mode MultiModel) refuses an invocation without TargetModel, and a
  single-model endpoint one with it, with a ValidationError as AWS does. Each invocation's
  SageMaker headers are kept per endpoint (`invocations(name)`), for assertions.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import moto_async
import moto_transform
from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend, applicationautoscaling_backends
from moto.core.responses import ActionResult
from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.server import ThreadedMotoServer

DELAY = 1.0
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@dataclass
class Script:
    create: str = "ok"  # ok | fail
    update: str = "ok"  # ok | fail | rollback (the next update only; then ok again)
    reason: str = "the container did not pass the /ping health check (injected by the test)"


@dataclass
class _Pending:
    kind: str  # create | update
    due: float
    new_config: str | None = None
    old_config: str | None = None
    outcome: str = "ok"
    reason: str = ""


@dataclass
class _State:
    scripts: dict[str, Script] = field(default_factory=dict)
    # what the last UpdateEndpoint of each endpoint asked for (DeploymentConfig), for assertions
    deployment_configs: dict[str, dict | None] = field(default_factory=dict)
    # the X-Amzn-SageMaker-* headers of each InvokeEndpoint, per endpoint, in order
    invocations: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


STATE = _State()


def script(endpoint: str, *, create: str = "ok", update: str = "ok", reason: str | None = None) -> None:
    """Choose how `endpoint`'s next creation and update end."""
    with STATE.lock:
        STATE.scripts[endpoint] = Script(create, update, reason or Script.reason)


def reset() -> None:
    with STATE.lock:
        STATE.scripts.clear()
        STATE.pending.clear()
        STATE.deployment_configs.clear()
        STATE.invocations.clear()


def invocations(endpoint: str) -> list[dict[str, str]]:
    """The SageMaker headers of each InvokeEndpoint call `endpoint` received."""
    with STATE.lock:
        return list(STATE.invocations.get(endpoint, []))


def _script(endpoint: str) -> Script:
    return STATE.scripts.get(endpoint, Script())


Backend = sm_models.SageMakerModelBackend
_original = {
    name: getattr(Backend, name)
    for name in (
        "create_model",
        "create_endpoint_config",
        "create_endpoint",
        "describe_endpoint",
        "delete_endpoint",
    )
}


def _arn(self, kind: str, name: str) -> str:
    return sm_models.arn_formatter(kind, name, self.account_id, self.region_name)


def create_model(self, model_name: str, *args, **kwargs):
    if model_name in self._models:
        raise ValidationError(
            message=f'Cannot create already existing model "{_arn(self, "model", model_name)}".'
        )
    return _original["create_model"](self, model_name, *args, **kwargs)


def create_endpoint_config(self, endpoint_config_name: str, *args, **kwargs):
    if endpoint_config_name in self.endpoint_configs:
        arn = _arn(self, "endpoint-config", endpoint_config_name)
        raise ValidationError(message=f'Cannot create already existing endpoint configuration "{arn}".')
    return _original["create_endpoint_config"](self, endpoint_config_name, *args, **kwargs)


def create_endpoint(self, endpoint_name: str, endpoint_config_name: str, tags):
    if endpoint_name in self.endpoints:
        arn = _arn(self, "endpoint", endpoint_name)
        raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
    endpoint = _original["create_endpoint"](self, endpoint_name, endpoint_config_name, tags)
    chosen = _script(endpoint_name)
    with STATE.lock:
        endpoint.endpoint_status = "Creating"
        STATE.pending[endpoint_name] = _Pending(
            "create", time.monotonic() + DELAY, outcome=chosen.create, reason=chosen.reason
        )
    return endpoint


def _advance(self, endpoint_name: str) -> None:
    with STATE.lock:
        pending = STATE.pending.get(endpoint_name)
        endpoint = self.endpoints.get(endpoint_name)
        if pending is None or endpoint is None or time.monotonic() < pending.due:
            return
        del STATE.pending[endpoint_name]
        endpoint.last_modified_time = sm_models.utcnow()
        if pending.outcome == "fail":
            endpoint.endpoint_status = "Failed"
            endpoint.failure_reason = pending.reason
        elif pending.outcome == "rollback":
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = pending.reason
        else:
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = None
            if pending.kind == "update":
                config = self.endpoint_configs[pending.new_config]
                endpoint.endpoint_config_name = pending.new_config
                endpoint.production_variants = endpoint._process_production_variants(
                    config.production_variants
                )


def describe_endpoint(self, endpoint_name: str):
    _advance(self, endpoint_name)
    return _original["describe_endpoint"](self, endpoint_name)


def delete_endpoint(self, endpoint_name: str) -> None:
    with STATE.lock:
        STATE.pending.pop(endpoint_name, None)
    # AWS deregisters the endpoint's scalable targets silently; so does this.
    scaling = applicationautoscaling_backends[self.account_id][self.region_name]
    for resource_id in list(scaling.targets.get(SCALABLE_DIMENSION, {})):
        if resource_id.startswith(f"endpoint/{endpoint_name}/variant/"):
            del scaling.targets[SCALABLE_DIMENSION][resource_id]
            scaling.policies = {
                key: policy for key, policy in scaling.policies.items() if policy.resource_id != resource_id
            }
    return _original["delete_endpoint"](self, endpoint_name)


def update_endpoint(self, endpoint_name: str, endpoint_config_name: str) -> str:
    _advance(self, endpoint_name)
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        raise ValidationError(message=f'Could not find endpoint "{_arn(self, "endpoint", endpoint_name)}".')
    if endpoint.endpoint_status != "InService":
        raise ValidationError(
            message=f'Cannot update in-progress endpoint "{endpoint.arn}" ({endpoint.endpoint_status}).'
        )
    new = self.endpoint_configs.get(endpoint_config_name)
    if new is None:
        arn = _arn(self, "endpoint-config", endpoint_config_name)
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    old = self.endpoint_configs.get(endpoint.endpoint_config_name)
    old_variants = {v["VariantName"]: v for v in (old.production_variants if old else [])}
    new_variants = {v["VariantName"]: v for v in new.production_variants}
    scaling = applicationautoscaling_backends[self.account_id][self.region_name]
    registered = scaling.targets.get(SCALABLE_DIMENSION, {})
    for name, variant in old_variants.items():
        if f"endpoint/{endpoint_name}/variant/{name}" not in registered:
            continue
        replacement = new_variants.get(name)
        if replacement is None or replacement.get("InstanceType") != variant.get("InstanceType"):
            raise ValidationError(
                message=(
                    f'The variant(s) "[{name}]" must be deregistered as scalable targets with AWS '
                    "Application Auto Scaling before they can be removed or have their instance type "
                    "updated."
                )
            )
    chosen = _script(endpoint_name)
    with STATE.lock:
        endpoint.endpoint_status = "Updating"
        endpoint.failure_reason = None
        STATE.pending[endpoint_name] = _Pending(
            "update",
            time.monotonic() + DELAY,
            new_config=endpoint_config_name,
            old_config=endpoint.endpoint_config_name,
            outcome=chosen.update,
            reason=chosen.reason,
        )
        if chosen.update != "ok":
            STATE.scripts[endpoint_name] = Script(chosen.create, "ok", chosen.reason)
    return endpoint.arn


def _update_endpoint_response(self) -> ActionResult:
    with STATE.lock:
        STATE.deployment_configs[self._get_param("EndpointName")] = self._get_param("DeploymentConfig")
    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": arn})


_original_register = ApplicationAutoscalingBackend.register_scalable_target
_original_put_policy = ApplicationAutoscalingBackend.put_scaling_policy


def register_scalable_target(self, namespace: str, r_id: str, dimension: str, *args, **kwargs):
    """As AWS: a SageMaker target must name an existing endpoint's variant (moto took anything)."""
    if namespace == "sagemaker":
        _, endpoint_name, _, variant = ([*r_id.split("/"), "", "", "", ""])[:4]
        endpoint = sm_models.sagemaker_backends[self.account_id][self.region_name].endpoints.get(
            endpoint_name
        )
        variants = [v["VariantName"] for v in endpoint.production_variants] if endpoint else []
        if variant not in variants:
            raise AWSValidationException(f"The endpoint or variant of resource {r_id} does not exist.")
    return _original_register(self, namespace, r_id, dimension, *args, **kwargs)


def put_scaling_policy(
    self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs
):
    """As AWS: a policy needs its scalable target registered first (moto took policies without one)."""
    if not self._scalable_target_exists(resource_id, scalable_dimension):
        raise AWSValidationException(
            f"No scalable target registered for service namespace: {service_namespace}, resource ID: "
            f"{resource_id}, scalable dimension: {scalable_dimension}"
        )
    return _original_put_policy(
        self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs
    )


_original_invoke = SageMakerRuntimeResponse.invoke_endpoint


def _invoke_endpoint_response(self):
    """InvokeEndpoint: TargetModel on a multi-model endpoint only, and always there."""
    name = self.path.split("/")[2]
    headers = {k: v for k, v in self.headers.items() if k.lower().startswith("x-amzn-sagemaker")}
    with STATE.lock:
        STATE.invocations.setdefault(name, []).append(headers)
    target = next((v for k, v in headers.items() if k.lower() == "x-amzn-sagemaker-target-model"), None)
    backend = sm_models.sagemaker_backends[self.current_account][self.region]
    endpoint = backend.endpoints.get(name)
    if endpoint is not None:
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        variants = config.production_variants if config else []
        models = [backend._models.get(variant["ModelName"]) for variant in variants]
        multi = any(m is not None and m.primary_container.get("Mode") == "MultiModel" for m in models)
        if multi and not target:
            return _validation("TargetModel is required when invoking a multi-model endpoint.")
        if target and not multi:
            return _validation(f"Endpoint {name} is not a multi-model endpoint: TargetModel is not allowed.")
    return _original_invoke(self)


def _validation(message: str):
    raise ValidationError(message=message)


_PATCHED = False


def install() -> None:
    """Patch moto's SageMaker backend and responses (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    Backend.create_model = create_model
    Backend.create_endpoint_config = create_endpoint_config
    Backend.create_endpoint = create_endpoint
    Backend.describe_endpoint = describe_endpoint
    Backend.delete_endpoint = delete_endpoint
    Backend.update_endpoint = update_endpoint
    SageMakerResponse.update_endpoint = _update_endpoint_response
    SageMakerRuntimeResponse.invoke_endpoint = _invoke_endpoint_response
    ApplicationAutoscalingBackend.register_scalable_target = register_scalable_target
    ApplicationAutoscalingBackend.put_scaling_policy = put_scaling_policy
    moto_transform.install()
    moto_async.install()
    _PATCHED = True


class MotoServer:
    """The extended moto on 127.0.0.1, a free port; `env` points boto3 (and the aws CLI) at it."""

    def __init__(self) -> None:
        install()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def reset(self) -> None:
        import urllib.request

        reset()
        moto_transform.reset()
        moto_async.reset()
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        opener.open(request, timeout=10).read()


def recover(endpoint_name: str, account: str = "123456789012", region: str = "us-east-1") -> None:
    """Put a Failed endpoint back InService on its config (a test shortcut, not an AWS behaviour)."""
    endpoint = sm_models.sagemaker_backends[account][region].endpoints[endpoint_name]
    with STATE.lock:
        STATE.pending.pop(endpoint_name, None)
        endpoint.endpoint_status = "InService"
        endpoint.failure_reason = None
