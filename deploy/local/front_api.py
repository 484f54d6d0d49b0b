"""The front's administration API, both sides: its routes and token header (which the front
serves), and FrontClient, which the commands use to reach a running front.

    GET  /_byoc/status       the front's name, pid, healthy count and instances
    GET  /_byoc/metrics      its counters (deploy.local.metrics)
    POST /_byoc/instances    (token) blue/green: new instances in, old ones drained
"""

from __future__ import annotations

import httpx

from deploy.local.errors import LocalEndpointError
from deploy.local.state import InstanceRecord

TOKEN_HEADER = "X-Byoc-Local-Token"
STATUS_PATH = "/_byoc/status"
METRICS_PATH = "/_byoc/metrics"
INSTANCES_PATH = "/_byoc/instances"


def http_client(timeout: float = 5) -> httpx.Client:
    # trust_env=False: loopback traffic never goes through a proxy from the environment.
    return httpx.Client(timeout=timeout, trust_env=False)


class FrontClient:
    """The front of endpoint `name` at `url`; an answer from another process there does not count."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def status(self, timeout: float = 2) -> dict | None:
        """The front's status document; None when it does not answer (or is not this endpoint's)."""
        try:
            with http_client(timeout) as http:
                document = http.get(self.url + STATUS_PATH).json()
        except (httpx.HTTPError, ValueError):
            return None
        return document if isinstance(document, dict) and document.get("name") == self.name else None

    def metrics(self) -> dict[str, float]:
        try:
            with http_client() as http:
                document = http.get(self.url + METRICS_PATH).json()
            if document.get("name") != self.name:
                raise ValueError(f"another process answers there ({str(document)[:100]})")
            return {key: float(value) for key, value in document["metrics"].items()}
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LocalEndpointError(
                f"the front of {self.name} does not answer at {self.url}: {exc}"
            ) from None

    def swap(self, token: str, instances: list[InstanceRecord], drain_timeout: float) -> dict:
        """Put `instances` in rotation; answers once the old ones drained (or `drain_timeout` passed):
        {"retired": [...], "drained": bool, "in_flight": int}."""
        with http_client(timeout=drain_timeout + 30) as http:
            response = http.post(
                self.url + INSTANCES_PATH,
                headers={TOKEN_HEADER: token},
                json={
                    "instances": [{"id": record.container, "url": record.url} for record in instances],
                    "drain_timeout": drain_timeout,
                },
            )
        if response.status_code != 200:
            raise LocalEndpointError(f"the front refused the new instances: {response.text}")
        return response.json()
