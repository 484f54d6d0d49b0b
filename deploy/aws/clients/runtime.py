"""SageMaker Runtime: InvokeEndpoint and InvokeEndpointAsync.

ClientError passes through unchanged: a ModelError carries the container's status and message,
which `byoc invoke` shows as they are.
"""

from __future__ import annotations


class Runtime:
    def __init__(self, client) -> None:
        self.client = client

    def invoke(self, endpoint: str, body: bytes, content_type: str, **extra: str) -> dict:
        return self.client.invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType=content_type, **extra
        )

    def invoke_async(self, endpoint: str, **parameters: object) -> dict:
        """InvokeEndpointAsync: InferenceId, OutputLocation and FailureLocation, at once."""
        return self.client.invoke_endpoint_async(EndpointName=endpoint, **parameters)
