"""moto in server mode, extended where it models asynchronous endpoints wrongly (test harness).

What moto 5 gets wrong (moto/sagemaker/models.py create_endpoint, moto/sagemakerruntime), and what
this module changes:

* DescribeEndpoint of an endpoint whose config has AsyncInferenceConfig does not show it: it does
  now, as AWS's does.
* InvokeEndpointAsync answered 200 (AWS: 202), for any endpoint name (even none), wrote its result
  into a new bucket of its own per call (not the endpoint's S3OutputPath), never read the input, and
  took no inline Body: now the endpoint must exist and be asynchronous (ValidationError otherwise),
  the answer is 202 with OutputLocation and FailureLocation under the endpoint's S3OutputPath and
  S3FailurePath (<InferenceId>.out, <InferenceId>-error.out), and DELAY seconds later the result is
  written there: `answer(input)` for an endpoint scripted ok (default), or a ModelError object for
  one scripted to fail, or RequestDownloadFailure when the input is not in S3.
* Application Auto Scaling took MinCapacity 0 for any SageMaker variant: now only for an
  asynchronous endpoint's, as AWS ("Autoscale an asynchronous endpoint": scaling to zero is for
  asynchronous endpoints).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.s3.models import s3_backends
from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import ValidationError
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

DELAY = 0.3


@dataclass
class Script:
    outcome: str = "ok"  # ok | fail
    answer: Callable[[bytes], bytes] = field(default=lambda data: b"answer:" + data)
    status: int = 400
    message: str = '{"code": "invalid_input", "message": "injected by the test"}'


@dataclass
class _State:
    scripts: dict[str, Script] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


STATE = _State()


def script(endpoint: str, **kwargs) -> None:
    with STATE.lock:
        STATE.scripts[endpoint] = Script(**kwargs)


def reset() -> None:
    with STATE.lock:
        STATE.scripts.clear()


def _endpoint_config(backend, endpoint_name: str) -> dict | None:
    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        return None
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    return getattr(config, "async_inference_config", None) if config is not None else None


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def _error(message: str) -> ValidationError:
    return ValidationError(message=message)


def invoke_endpoint_async(self):
    name = self.path.split("/")[2]
    backend = sm_models.sagemaker_backends[self.current_account][self.region]
    if name not in backend.endpoints:
        raise _error(f"Endpoint {name} of account {self.current_account} not found.")
    config = _endpoint_config(backend, name)
    if not config:
        raise _error(f"Endpoint {name} is not an asynchronous endpoint (no AsyncInferenceConfig).")
    headers = {key.lower(): value for key, value in self.headers.items()}
    inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
    input_location = headers.get("x-amzn-sagemaker-inputlocation")
    inline = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
    if bool(input_location) == bool(inline):
        raise _error("Provide exactly one of Body and InputLocation.")
    output = config["OutputConfig"]
    output_location = _join(output["S3OutputPath"], f"{inference_id}.out")
    failure_location = _join(
        output.get("S3FailurePath") or output["S3OutputPath"], f"{inference_id}-error.out"
    )
    storage = s3_backends[self.current_account]["aws"]
    with STATE.lock:
        chosen = STATE.scripts.get(name, Script())

    def finish() -> None:
        data = inline
        if input_location:
            bucket, key = _split(input_location)
            try:
                data = storage.get_object(bucket, key).value
            except Exception:
                document = {
                    "ErrorCode": "RequestDownloadFailure",
                    "Message": f"{input_location} cannot be read",
                }
                storage.put_object(*_split(failure_location), json.dumps(document).encode())
                return
        if chosen.outcome == "fail":
            document = {
                "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
                "OriginalStatusCode": chosen.status,
                "OriginalMessage": chosen.message,
                "Message": f"Received client error ({chosen.status}) from primary with message "
                f'"{chosen.message}".',
            }
            storage.put_object(*_split(failure_location), json.dumps(document).encode())
            return
        storage.put_object(*_split(output_location), chosen.answer(data))

    timer = threading.Timer(DELAY, finish)
    timer.daemon = True
    timer.start()
    answer_headers = {
        "status": "202",  # moto's server takes the status from here (its own answer was always 200)
        "X-Amzn-SageMaker-OutputLocation": output_location,
        "X-Amzn-SageMaker-FailureLocation": failure_location,
        "Content-Type": "application/json",
    }
    return 202, answer_headers, json.dumps({"InferenceId": inference_id})


_PATCHED = False


def install() -> None:
    """Patch moto's SageMaker backend and runtime responses (idempotent; after moto_sagemaker's)."""
    global _PATCHED
    if _PATCHED:
        return
    describe = sm_models.SageMakerModelBackend.describe_endpoint

    def describe_endpoint(self, endpoint_name: str):
        answer = describe(self, endpoint_name)
        config = _endpoint_config(self, endpoint_name)
        if config:
            answer = {**answer, "AsyncInferenceConfig": config}
        return answer

    register = ApplicationAutoscalingBackend.register_scalable_target

    def register_scalable_target(self, namespace: str, r_id: str, dimension: str, *args, **kwargs):
        minimum = kwargs.get("min_capacity", args[0] if args else None)
        if namespace == "sagemaker" and minimum == 0:
            endpoint = ([*r_id.split("/"), "", ""])[1]
            backend = sm_models.sagemaker_backends[self.account_id][self.region_name]
            if not _endpoint_config(backend, endpoint):
                raise AWSValidationException(
                    f"MinCapacity 0 is valid for asynchronous endpoints only; {r_id} is not one."
                )
        return register(self, namespace, r_id, dimension, *args, **kwargs)

    sm_models.SageMakerModelBackend.describe_endpoint = describe_endpoint
    SageMakerRuntimeResponse.invoke_endpoint_async = invoke_endpoint_async
    ApplicationAutoscalingBackend.register_scalable_target = register_scalable_target
    _PATCHED = True
