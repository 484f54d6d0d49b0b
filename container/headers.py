"""HTTP header names of the SageMaker contract, and this runtime's own latency headers.

SageMaker's InvokeEndpoint forwards a fixed set of request headers to the container and sets a few
on the answer (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
The runtime reads them (container.contract.context) and the local endpoint's front forwards and
sets them (deploy.local.wire): both take the names from here.
"""

from __future__ import annotations

# Request headers InvokeEndpoint forwards to the container (besides Content-Type and Accept).
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"
TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
TARGET_CONTAINER_HOSTNAME = "X-Amzn-SageMaker-Target-Container-Hostname"
ENABLE_EXPLANATIONS = "X-Amzn-SageMaker-Enable-Explanations"

# InvokeEndpoint's CustomAttributes, request and answer: at most 1024 US-ASCII characters.
MAX_CUSTOM_ATTRIBUTES_CHARS = 1024

# Set by the service on InvokeEndpoint's answer: the variant that served the request.
INVOKED_PRODUCTION_VARIANT = "x-Amzn-Invoked-Production-Variant"

# This runtime's answer to /invocations: the time in the model, and the rest of the request's time
# in the server, in whole microseconds (what the local endpoint reports as ModelLatency and
# OverheadLatency, as CloudWatch does for SageMaker endpoints).
MODEL_LATENCY_US = "X-Model-Latency-Us"
OVERHEAD_LATENCY_US = "X-Overhead-Latency-Us"
